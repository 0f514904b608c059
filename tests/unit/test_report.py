"""Reports rendered from the recorded fixture runs: structure, charts, reasons, no secrets."""

from __future__ import annotations

import argparse
import json
import re
import shutil
import struct
from html.parser import HTMLParser
from pathlib import Path

import pytest
from stellar_sdk import Keypair

from harness.report import ReportError, render_report
from harness.report import cli as report_cli
from harness.report.charts import CHARTS
from harness.report.html import assert_no_secrets
from harness.run.runbooks import runbook_anchor
from reference_impl.redaction import find_secrets

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "runs"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
DATA_URI = re.compile(r"data:image/png;base64,[A-Za-z0-9+/=]+")


class Outline(HTMLParser):
    """Collects the tags, ids, image sources and scorecard rows of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.ids: set[str] = set()
        self.img_srcs: list[str] = []
        self.external: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self.tags.append(tag)
        if a.get("id"):
            self.ids.add(str(a["id"]))
        if tag == "img":
            self.img_srcs.append(str(a.get("src")))
        if tag in ("script", "link") or (a.get("src") or "").startswith(("http", "//")):
            self.external.append(tag)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = {}
    for name in ("pass", "fail"):
        run_dir = tmp_path_factory.mktemp(name) / name
        shutil.copytree(FIXTURES / name, run_dir)
        out[name] = render_report(run_dir)
    return out


@pytest.mark.timeout(90)
@pytest.mark.parametrize("name", ["pass", "fail"])
def test_report_is_one_self_contained_page(rendered: dict[str, Path], name: str) -> None:
    page = rendered[name].read_text()
    summary = json.loads((rendered[name].parent / "summary.json").read_text())
    outline = Outline()
    outline.feed(page)
    assert page.startswith("<!DOCTYPE html>") and outline.tags.count("html") == 1
    assert outline.external == []
    assert len(outline.img_srcs) == len(CHARTS) and all(s.startswith("data:image/png;base64,") for s in outline.img_srcs)
    assert {"verdict", "scorecard", "faults", "charts"} <= outline.ids
    assert {f"check-{c['id']}" for c in summary["checks"]} <= outline.ids
    assert {f"chart-{n}" for n in CHARTS} <= outline.ids
    assert summary["verdict"] in page


@pytest.mark.timeout(90)
@pytest.mark.parametrize("name", ["pass", "fail"])
def test_every_chart_is_a_sensible_png(rendered: dict[str, Path], name: str) -> None:
    charts = rendered[name].parent / "charts"
    assert sorted(p.stem for p in charts.glob("*.png")) == sorted(CHARTS)
    for png in charts.glob("*.png"):
        blob = png.read_bytes()
        assert blob[:8] == PNG_MAGIC and blob[12:16] == b"IHDR"
        width, height = struct.unpack(">II", blob[16:24])
        assert 800 <= width <= 2000 and 250 <= height <= 1600, (png.name, width, height)
        assert 8_000 < len(blob) < 1_000_000, (png.name, len(blob))


@pytest.mark.timeout(90)
def test_failing_checks_and_their_reasons_appear(rendered: dict[str, Path]) -> None:
    page = rendered["fail"].read_text()
    summary = json.loads((rendered["fail"].parent / "summary.json").read_text())
    failed = [c for c in summary["checks"] if c["verdict"] == "fail"]
    assert {c["id"] for c in failed} >= {"P36", "target.channel.latency", "nothing-lost"}
    for check in failed:
        reason = check["reason"].replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        assert reason in page
    assert 'class="badge fail"' in page
    assert 'class="badge pass"' in rendered["pass"].read_text()


@pytest.mark.timeout(90)
def test_no_secret_pattern_in_any_output(rendered: dict[str, Path]) -> None:
    for report in rendered.values():
        assert find_secrets(DATA_URI.sub("", report.read_text())) == []
        for png in (report.parent / "charts").glob("*.png"):
            assert find_secrets(png.read_bytes().decode("latin-1")) == []


@pytest.mark.timeout(90)
def test_secrets_in_the_evidence_are_redacted(tmp_path: Path) -> None:
    run_dir = tmp_path / "leaky"
    shutil.copytree(FIXTURES / "fail", run_dir)
    seed = Keypair.random().secret
    summary = json.loads((run_dir / "summary.json").read_text())
    summary["checks"][0]["reason"] += f" while signing with {seed}"
    summary["checks"][0]["evidence"].append({"note": f"Authorization: Bearer abc.def.{seed[:20]}"})
    (run_dir / "summary.json").write_text(json.dumps(summary))
    page = render_report(run_dir).read_text()
    assert seed not in page and seed[:20] not in page and "[REDACTED]" in page
    with pytest.raises(ReportError, match="1 secret-looking") as info:
        assert_no_secrets(page, known_secrets=["admin-token-xyz", "2026-11-28T10:00:00Z"])  # the second is in the page
    assert "2026-11-28" not in str(info.value)


@pytest.mark.timeout(90)
def test_partial_run_folder_still_renders(tmp_path: Path) -> None:
    run_dir = tmp_path / "partial"
    run_dir.mkdir()
    shutil.copy(FIXTURES / "pass" / "requests.csv", run_dir / "requests.csv")
    page = render_report(run_dir).read_text()
    assert "partial report" in page and "no checks were judged" in page
    assert len(list((run_dir / "charts").glob("*.png"))) == len(CHARTS)


def test_bad_folders_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert report_cli.main(argparse.Namespace(run_dir=str(tmp_path / "missing"))) == 4
    assert "does not exist" in capsys.readouterr().err
    (tmp_path / "summary.json").write_text("[1, 2]")
    with pytest.raises(ReportError, match="JSON object"):
        render_report(tmp_path)
    (tmp_path / "summary.json").write_text("{}")
    (tmp_path / "requests.csv").write_text("endpoint,status\nx402,200\n")
    with pytest.raises(ReportError, match="lacks columns"):
        render_report(tmp_path)


@pytest.mark.timeout(90)
def test_failing_and_not_observable_checks_link_their_runbook_and_show_observability(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HARNESS_RUNBOOKS_URL", "https://git.example/repo/blob/main/docs/runbooks.md")
    run_dir = tmp_path / "fail"
    shutil.copytree(FIXTURES / "fail", run_dir)
    summary = json.loads((run_dir / "summary.json").read_text())
    p35 = next(c for c in summary["checks"] if c["id"] == "P35")
    p35.update(verdict="inconclusive", reason="not observable: feed:breaker.transition (GET /admin/events answered 404)",
               not_observable={"feed:breaker.transition": "GET /admin/events answered 404"},
               evidence_used={"client-records": "requests.csv"})
    summary["observability"] = {"feed:breaker.transition": {"available": "no", "why": "GET /admin/events answered 404"},
                                "client-records": {"available": "yes", "source": "requests.csv"}}
    (run_dir / "summary.json").write_text(json.dumps(summary))
    page = render_report(run_dir).read_text()
    failed = [c["id"] for c in summary["checks"] if c["verdict"] == "fail"]
    for cid in [*failed, "P35"]:
        assert f'href="https://git.example/repo/blob/main/docs/runbooks.md#{runbook_anchor(cid)}"' in page
    passed = [c["id"] for c in summary["checks"] if c["verdict"] == "pass" and not c["id"].startswith("recovery.")]
    assert passed and not any(f"runbooks.md#{runbook_anchor(cid)}\"" in page for cid in passed)
    assert "not observable: feed:breaker.transition" in page and 'id="observability"' in page
    assert "GET /admin/events answered 404" in page
