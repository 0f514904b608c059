"""Smoke run of the fidelity benchmark: `--quick` must finish and every row must PASS (a fidelity regression fails)."""

from __future__ import annotations

import pytest

from benchmarks import bench_fidelity

ROWS = ("latency downstream", "latency upstream", "latency + jitter", "chained latency", "bandwidth",
        "reset_peer", "timeout 0", "timeout idle", "slicer", "limit_data", "toxicity 0", "toxicity 0 -> 1",
        "disable", "no-toxic overhead")


@pytest.mark.timeout(60)
def test_quick_run_passes_every_row(capsys: pytest.CaptureFixture[str]) -> None:
    code = bench_fidelity.main(["--quick"])
    out = capsys.readouterr().out
    table = [line for line in out.splitlines() if line.startswith(ROWS)]
    assert code == 0, out
    assert len(table) == len(ROWS), out
    assert all(line.rstrip().endswith("PASS") for line in table), out
    assert f"{len(ROWS)}/{len(ROWS)} PASS" in out


@pytest.mark.timeout(30)
def test_failing_check_becomes_a_fail_row_and_exit_1(monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    def broken(api: bench_fidelity.Api, trials: int) -> list[bench_fidelity.Row]:
        raise bench_fidelity.BenchmarkError("scenario misbehaved")

    monkeypatch.setattr(bench_fidelity, "check_limit_data", broken)
    code = bench_fidelity.main(["--quick", "--only", "limit_data"])
    out = capsys.readouterr().out
    assert code == 1
    assert "error: BenchmarkError: scenario misbehaved" in out and "FAIL" in out
    assert "0/1 PASS; FAIL: limit_data" in out


def test_bad_arguments_are_rejected_before_any_server_starts() -> None:
    with pytest.raises(SystemExit):
        bench_fidelity.main(["--trials", "0"])
    with pytest.raises(SystemExit):
        bench_fidelity.main(["--only", "no-such-check"])
