"""`harness compare`: a seeded p95 regression is flagged (exit 1), a clean pair is not."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from harness.report import compare_cli
from harness.report.compare import COMPARE_FILE, compare_runs, write_comparison
from harness.report.data import ReportError

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "runs"


def run_copy(tmp_path: Path, name: str, source: str = "pass", p95_factor: dict[str, float] | None = None) -> Path:
    """A copy of a fixture run's summary, with some target p95s multiplied."""
    out = tmp_path / name
    out.mkdir()
    summary = json.loads((FIXTURES / source / "summary.json").read_text())
    summary["run_id"] = name
    for check in summary["checks"]:
        factor = (p95_factor or {}).get(check["figures"].get("metric", ""))
        if check["kind"] == "target" and factor:
            check["figures"]["p95_ms"] *= factor
    (out / "summary.json").write_text(json.dumps(summary))
    return out


def args(*runs: Path, baseline: Path | None = None, tolerance: float = 10.0, out: Path) -> argparse.Namespace:
    return argparse.Namespace(run_dirs=[str(r) for r in runs], baseline=str(baseline) if baseline else None,
                              tolerance=tolerance, out=str(out))


@pytest.mark.timeout(60)
def test_seeded_regression_is_flagged_and_exits_1(tmp_path: Path) -> None:
    base = run_copy(tmp_path, "night-1")
    same = run_copy(tmp_path, "night-2", p95_factor={"settlement.finality": 1.05})
    worse = run_copy(tmp_path, "night-3", p95_factor={"settlement.finality": 1.25})
    out = tmp_path / "cmp"
    assert compare_cli.main(args(base, same, worse, out=out)) == 1
    cmp = compare_runs([base, same, worse])
    assert [(r["run"], r["metric"]) for r in cmp.regressions] == [("night-3", "settlement.finality")]
    assert cmp.regressions[0]["change_pct"] == pytest.approx(25.0, abs=0.1)
    page = (out / COMPARE_FILE).read_text()
    assert "REGRESSION" in page and "night-3" in page
    assert {p.name for p in out.glob("*.png")} == {"compare_p95_trend.png", "compare_verdicts.png"}
    assert compare_runs([base, worse], tolerance_pct=30.0).regressions == []


@pytest.mark.timeout(60)
def test_clean_pair_is_not_flagged(tmp_path: Path) -> None:
    base = run_copy(tmp_path, "a")
    again = run_copy(tmp_path, "b", p95_factor={"channel.latency": 0.8, "x402.handshake": 1.09})
    out = tmp_path / "cmp"
    assert compare_cli.main(args(base, again, out=out)) == 0
    assert "no p95 regression" in (out / COMPARE_FILE).read_text()


@pytest.mark.timeout(60)
def test_failing_fixture_against_passing_baseline(tmp_path: Path) -> None:
    cmp = compare_runs([FIXTURES / "fail"], baseline=FIXTURES / "pass")
    assert {r["metric"] for r in cmp.regressions} == {"channel.latency"}
    assert {c["check"] for c in cmp.verdict_changes} >= {"P36", "nothing-lost", "target.channel.latency"}
    write_comparison(cmp, tmp_path / "out")
    assert (tmp_path / "out" / COMPARE_FILE).exists()


def test_bad_input_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ReportError, match="non-negative"):
        compare_runs([FIXTURES / "pass"], tolerance_pct=-5)
    with pytest.raises(ReportError, match="at least one"):
        compare_runs([])
    assert compare_cli.main(args(tmp_path, out=tmp_path / "o")) == 4
    assert "no summary.json" in capsys.readouterr().err
