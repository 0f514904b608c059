"""junit.xml: one test case per check, so CI shows each property, target and invariant."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path

from harness.judges.context import Check


def render_junit(profile: str, checks: Sequence[Check], duration_s: float, harness_error: str = "") -> str:
    """The junit.xml text; a harness error becomes one errored case named `harness`."""
    suite = ET.Element("testsuite", name=f"harness.{profile}", time=f"{duration_s:.3f}")
    counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    if harness_error:
        case = ET.SubElement(suite, "testcase", classname=f"harness.{profile}", name="harness")
        ET.SubElement(case, "error", message=harness_error[:500]).text = harness_error
        counts["tests"] += 1
        counts["errors"] += 1
    for check in checks:
        counts["tests"] += 1
        case = ET.SubElement(
            suite, "testcase", classname=f"harness.{profile}.{check.kind}", name=f"{check.id} {check.name}".strip()
        )
        detail = json.dumps({"figures": check.figures, "evidence": check.evidence[:20]}, default=str, indent=1)
        if check.verdict == "fail":
            counts["failures"] += 1
            ET.SubElement(case, "failure", message=check.reason[:500]).text = detail
        elif check.verdict == "inconclusive":
            counts["skipped"] += 1
            ET.SubElement(case, "skipped", message=f"inconclusive: {check.reason[:480]}")
        else:
            ET.SubElement(case, "system-out").text = check.reason
    for key, value in counts.items():
        suite.set(key, str(value))
    ET.indent(suite)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(suite, encoding="unicode") + "\n"


def write_junit(path: Path, profile: str, checks: Sequence[Check], duration_s: float, harness_error: str = "") -> None:
    Path(path).write_text(render_junit(profile, checks, duration_s, harness_error))
