"""Secret scan of every artifact in a run folder (part of P31, also run on rendered reports).

Findings name the file, the kind of secret and a count, never the secret itself. The run's fuzz corpus
(corpus.json) sends wrong credentials on purpose (a junk X-API-Key, `Bearer wrong-token`): a token found
inside one of those header values is counted as a `corpus-decoy`, which fails nothing; a seed, an issued API
key or a known secret in the corpus is a finding like anywhere else.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from harness.judges.context import VERDICT_FAIL, VERDICT_INCONCLUSIVE, VERDICT_PASS, Check, JudgeContext
from harness.outputs import CORPUS_FILE
from reference_impl.redaction import find_secrets

CHUNK_BYTES = 4 << 20
OVERLAP_BYTES = 512  # longer than any pattern, so a secret split across chunks is still seen
MAX_FILES = 10_000
_SEED = re.compile(r"S[A-Z2-7]{55}")
DECOY_KIND = "corpus-decoy"
DECOY_HEADERS = ("authorization", "x-api-key")  # the credentials scenarios/corpus.py gets wrong on purpose
MAX_CORPUS_BYTES = 64 << 20  # far above a 5,000-case corpus; a larger file is scanned without decoys


@dataclass(frozen=True, slots=True)
class Finding:
    """A secret-looking string in a file: where and what kind, never the value."""

    path: str
    kind: str  # stellar-seed | api-key | known-secret | token-or-encoded-secret | corpus-decoy
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


def corpus_decoys(path: Path) -> tuple[str, ...]:
    """The credential header values of a fuzz corpus file (`DECOY_HEADERS` of each case), as JSON writes them
    (escapes included, as the scan reads them); none when the file is not a corpus."""
    try:
        cases = json.loads(path.read_bytes()) if path.stat().st_size <= MAX_CORPUS_BYTES else []
    except (OSError, ValueError):
        return ()
    headers = [c.get("headers") for c in cases if isinstance(c, dict)] if isinstance(cases, list) else []
    return tuple(sorted({json.dumps(str(v))[1:-1] for h in headers if isinstance(h, dict) for k, v in h.items()
                         if str(k).lower() in DECOY_HEADERS}))


def scan_file(path: Path, known_secrets: Iterable[str] = (), root: Path | None = None,
              decoys: tuple[str, ...] = ()) -> list[Finding]:
    """Scan one file in overlapping chunks (bounded memory); binary content is decoded leniently. A generic
    token lying inside one of `decoys` is counted as DECOY_KIND."""
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
                if kind == "token-or-encoded-secret" and any(found in decoy for decoy in decoys):
                    kind = DECOY_KIND
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
    corpus = root / CORPUS_FILE
    for path in files:
        findings += scan_file(path, known, root, corpus_decoys(corpus) if path == corpus else ())
    return len(files), findings


def judge_secret_scan(ctx: JudgeContext) -> Check:
    name = "no secret in any run artifact"
    if ctx.run_dir is None or not Path(ctx.run_dir).is_dir():
        return Check("secret-scan", "invariant", name, VERDICT_INCONCLUSIVE,
                     "no run folder to scan", {"files": 0, "findings": 0})
    files, scanned = scan_run_dir(ctx.run_dir, ctx.known_secrets)
    findings = [f for f in scanned if f.kind != DECOY_KIND]
    figures = {"files": files, "findings": sum(f.count for f in findings)}
    if (Path(ctx.run_dir) / CORPUS_FILE).is_file():
        figures["corpus_decoys"] = sum(f.count for f in scanned if f.kind == DECOY_KIND)
    evidence: list[object] = [f.to_dict() for f in findings[:50]]
    if findings:
        where = ", ".join(sorted({f"{f.path} ({f.kind})" for f in findings})[:5])
        return Check("secret-scan", "invariant", name, VERDICT_FAIL,
                     f"{figures['findings']} secret-looking string(s) in {where}", figures, evidence)
    if files == 0:
        return Check("secret-scan", "invariant", name, VERDICT_INCONCLUSIVE, "run folder is empty", figures)
    return Check("secret-scan", "invariant", name, VERDICT_PASS, f"{files} files scanned, nothing found", figures)
