"""Secret scan of every artifact in a run folder (part of P31, also run on rendered reports).

Findings name the file, the kind of secret and a count, never the secret itself.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from harness.judges.context import VERDICT_FAIL, VERDICT_INCONCLUSIVE, VERDICT_PASS, Check, JudgeContext
from reference_impl.redaction import find_secrets

CHUNK_BYTES = 4 << 20
OVERLAP_BYTES = 512  # longer than any pattern, so a secret split across chunks is still seen
MAX_FILES = 10_000
_SEED = re.compile(r"S[A-Z2-7]{55}")


@dataclass(frozen=True, slots=True)
class Finding:
    """A secret-looking string in a file: where and what kind, never the value."""

    path: str
    kind: str  # stellar-seed | api-key | known-secret | token-or-encoded-secret
    count: int

    def to_dict(self) -> dict[str, object]:
        return {"path": self.path, "kind": self.kind, "count": self.count}


def classify(found: str, known: Iterable[str]) -> str:
    """The kind of a string `find_secrets` reported."""
    if _SEED.fullmatch(found):
        return "stellar-seed"
    if found.startswith("srhk_"):
        return "api-key"
    return "known-secret" if found in set(known) else "token-or-encoded-secret"


def scan_text(text: str, known_secrets: Iterable[str] = ()) -> dict[str, int]:
    """Counts of distinct secret-looking strings in `text`, by kind."""
    known = tuple(known_secrets)
    counts: dict[str, int] = {}
    for found in find_secrets(text, known):
        kind = classify(found, known)
        counts[kind] = counts.get(kind, 0) + 1
    return counts


def scan_file(path: Path, known_secrets: Iterable[str] = (), root: Path | None = None) -> list[Finding]:
    """Scan one file in overlapping chunks (bounded memory); binary content is decoded leniently."""
    known = tuple(known_secrets)
    totals: dict[str, int] = {}
    seen: set[tuple[str, str]] = set()
    with path.open("rb") as fh:
        tail = b""
        while True:
            chunk = fh.read(CHUNK_BYTES)
            if not chunk:
                break
            text = (tail + chunk).decode("utf-8", errors="replace")
            for found in find_secrets(text, known):
                kind = classify(found, known)
                if (kind, found) not in seen:  # the overlap must not count one secret twice
                    seen.add((kind, found))
                    totals[kind] = totals.get(kind, 0) + 1
            tail = chunk[-OVERLAP_BYTES:]
    name = str(path.relative_to(root)) if root else path.name
    return [Finding(name, kind, count) for kind, count in sorted(totals.items())]


def scan_run_dir(run_dir: Path, known_secrets: Iterable[str] = ()) -> tuple[int, list[Finding]]:
    """(files scanned, findings) over every regular file below `run_dir`."""
    root = Path(run_dir)
    known = tuple(known_secrets)
    files = sorted(p for p in root.rglob("*") if p.is_file())[:MAX_FILES]
    findings: list[Finding] = []
    for path in files:
        findings += scan_file(path, known, root)
    return len(files), findings


def judge_secret_scan(ctx: JudgeContext) -> Check:
    name = "no secret in any run artifact"
    if ctx.run_dir is None or not Path(ctx.run_dir).is_dir():
        return Check("secret-scan", "invariant", name, VERDICT_INCONCLUSIVE,
                     "no run folder to scan", {"files": 0, "findings": 0})
    files, findings = scan_run_dir(ctx.run_dir, ctx.known_secrets)
    figures = {"files": files, "findings": sum(f.count for f in findings)}
    evidence: list[object] = [f.to_dict() for f in findings[:50]]
    if findings:
        where = ", ".join(sorted({f"{f.path} ({f.kind})" for f in findings})[:5])
        return Check("secret-scan", "invariant", name, VERDICT_FAIL,
                     f"{figures['findings']} secret-looking string(s) in {where}", figures, evidence)
    if files == 0:
        return Check("secret-scan", "invariant", name, VERDICT_INCONCLUSIVE, "run folder is empty", figures)
    return Check("secret-scan", "invariant", name, VERDICT_PASS, f"{files} files scanned, nothing found", figures)
