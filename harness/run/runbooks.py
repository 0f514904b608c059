"""Where each check's runbook lives: a section of docs/runbooks.md per check id.

`runbook_ref(id)` is the repository-relative reference shown on the console and in junit.xml
(`docs/runbooks.md#p35`); `runbook_url(id)` is the link report.html uses: `$HARNESS_RUNBOOKS_URL` (e.g. the
file's address on your Git host) plus the anchor, else the local file. Anchors are explicit
`<a id="..."></a>` tags in the document, so they resolve the same in every Markdown viewer.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

RUNBOOKS_FILE = Path(__file__).resolve().parents[2] / "docs" / "runbooks.md"
RUNBOOKS_REF = "docs/runbooks.md"
URL_VARIABLE = "HARNESS_RUNBOOKS_URL"
HARNESS_ANCHOR = "harness-error"


def runbook_anchor(check_id: str) -> str:
    """`P35` -> `p35`, `target.settlement.finality` -> `target-settlement-finality`, `recovery.3` -> `recovery`."""
    if check_id.startswith("recovery."):
        return "recovery"
    return re.sub(r"[^a-z0-9]+", "-", check_id.lower()).strip("-") or HARNESS_ANCHOR


def runbook_ref(check_id: str) -> str:
    return f"{RUNBOOKS_REF}#{runbook_anchor(check_id)}"


def runbook_url(check_id: str) -> str:
    base = os.environ.get(URL_VARIABLE) or RUNBOOKS_FILE.as_uri()
    return f"{base}#{runbook_anchor(check_id)}"


def documented_anchors(path: Path = RUNBOOKS_FILE) -> set[str]:
    """The anchors docs/runbooks.md defines."""
    return set(re.findall(r'<a id="([a-z0-9-]+)"></a>', path.read_text()))
