"""junit.xml: one test case per check, so CI shows each property, target and invariant.

A failing or inconclusive case names its runbook (docs/runbooks.md#<anchor>) in its message and in a
`runbook` property.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path

from harness.judges.context import Check
from harness.run.runbooks import runbook_ref


def render_junit(profile: str, checks: Sequence[Check], duration_s: float, harness_error: str = "") -> str:
    """The junit.xml text; a harness error becomes one errored case named `harness`."""
    suite = ET.Element("testsuite", name=f"harness.{profile}", time=f"{duration_s:.3f}")
    counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    if harness_error:
        case = ET.SubElement(suite, "testcase", classname=f"harness.{profile}", name="harness")
        ET.SubElement(case, "error", message=f"{harness_error[:440]} (runbook: {runbook_ref('harness-error')})"
                      ).text = harness_error
        counts["tests"] += 1
        counts["errors"] += 1
    for check in checks:
        counts["tests"] += 1
        case = ET.SubElement(
            suite, "testcase", classname=f"harness.{profile}.{check.kind}", name=f"{check.id} {check.name}".strip()
        )
        detail = json.dumps({"figures": check.figures, "evidence": check.evidence[:20],
                             "evidence_used": check.evidence_used, "not_observable": check.not_observable},
                            default=str, indent=1)
        runbook = runbook_ref(check.id)
        if check.verdict != "pass":
            props = ET.SubElement(case, "properties")
            ET.SubElement(props, "property", name="runbook", value=runbook)
        if check.verdict == "fail":
            counts["failures"] += 1
            ET.SubElement(case, "failure", message=f"{check.reason[:440]} (runbook: {runbook})").text = detail
        elif check.verdict == "inconclusive":
            counts["skipped"] += 1
            ET.SubElement(case, "skipped", message=f"inconclusive: {check.reason[:400]} (runbook: {runbook})")
        else:
            ET.SubElement(case, "system-out").text = check.reason
    for key, value in counts.items():
        suite.set(key, str(value))
    ET.indent(suite)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(suite, encoding="unicode") + "\n"


def write_junit(path: Path, profile: str, checks: Sequence[Check], duration_s: float, harness_error: str = "") -> None:
    Path(path).write_text(render_junit(profile, checks, duration_s, harness_error))
