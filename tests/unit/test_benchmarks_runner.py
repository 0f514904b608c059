"""The benchmark runner (discovery, failure handling), the shared helpers and a quick components smoke run."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from benchmarks import bench_components
from benchmarks.__main__ import discover
from benchmarks.__main__ import main as runner_main
from benchmarks._common import BenchmarkError, format_table, measure, ratio

MODULES = {
    "bench_alpha.py": "def main(argv=None):\n    print('ALPHA-TABLE', argv)\n    return 0\n",
    "bench_boom.py": "def main(argv=None):\n    raise RuntimeError('boom')\n",
    "bench_code.py": "def main(argv=None):\n    return 3\n",
    "bench_noimport.py": "import module_that_does_not_exist_42\n",
    "bench_nomain.py": "X = 1\n",
    "bench_plain.py": "import sys\n\n\ndef main():\n    print('PLAIN-TABLE', sys.argv[1:])\n",
    "bench_zeta.py": "def main(argv=None):\n    print('ZETA-TABLE')\n    return 0\n",
    "helper.py": "raise AssertionError('not a benchmark, must never be imported')\n",
}


@pytest.fixture
def bench_dir(tmp_path: Path) -> Path:
    for name, text in MODULES.items():
        (tmp_path / name).write_text(text)
    return tmp_path


def test_discover_finds_only_bench_modules_sorted(bench_dir: Path) -> None:
    assert list(discover(bench_dir)) == ["alpha", "boom", "code", "noimport", "nomain", "plain", "zeta"]


def test_runs_all_continues_past_failures_and_fails_overall(bench_dir: Path, capsys) -> None:
    assert runner_main([], directory=bench_dir) == 1
    out, err = capsys.readouterr()
    assert "ALPHA-TABLE" in out and "ZETA-TABLE" in out  # zeta runs after four failing modules
    for name in ("boom", "code", "noimport", "nomain"):
        assert f"!!! {name}: FAILED" in err
    assert "main returned 3" in err and "RuntimeError: boom" in err
    assert "PLAIN-TABLE []" in out
    assert "4 of 7 benchmark(s) failed: boom, code, noimport, nomain" in err


def test_selected_names_run_alone_with_or_without_prefix(bench_dir: Path, capsys) -> None:
    assert runner_main(["alpha", "bench_zeta"], directory=bench_dir) == 0
    out, err = capsys.readouterr()
    assert "ALPHA-TABLE []" in out and "ZETA-TABLE" in out and "2 benchmark(s) ok" in out
    assert err == ""


def test_unknown_name_is_rejected_before_running_anything(bench_dir: Path, capsys) -> None:
    assert runner_main(["alpha", "nope"], directory=bench_dir) == 2
    out, err = capsys.readouterr()
    assert "unknown benchmark(s): nope" in err and "ALPHA-TABLE" not in out


def test_list_prints_names_without_running(bench_dir: Path, capsys) -> None:
    assert runner_main(["--list"], directory=bench_dir) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "alpha\tbench_alpha.py" and "ALPHA-TABLE" not in out


def test_arguments_after_double_dash_reach_each_module(bench_dir: Path, capsys, monkeypatch) -> None:
    monkeypatch.setattr(sys, "argv", ["python -m benchmarks", "alpha", "plain", "--", "--quick", "-x"])
    assert runner_main(["alpha", "plain", "--", "--quick", "-x"], directory=bench_dir) == 0
    out = capsys.readouterr().out
    assert "ALPHA-TABLE ['--quick', '-x']" in out and "PLAIN-TABLE ['--quick', '-x']" in out
    assert sys.argv[1] == "alpha"  # restored after the run


def test_empty_directory_is_a_failure(tmp_path: Path, capsys) -> None:
    assert runner_main([], directory=tmp_path) == 1
    assert "no benchmarks found" in capsys.readouterr().err


def test_package_lists_components() -> None:
    assert "components" in discover()


def test_measure_and_formatting_helpers() -> None:
    calls = []
    seconds = measure(lambda: calls.append(1), repeat=3, number=10)
    assert len(calls) == 30 and 0 < seconds < 1
    assert measure(lambda: None, repeat=1) > 0  # auto-sized
    with pytest.raises(BenchmarkError):
        measure(lambda: None, repeat=0)
    assert (ratio(3.0, 1.5), ratio(500.0, 1.0), ratio(1.0, None)) == ("2.00x", "500x", "-")
    text = format_table("T", [("a", "1,234"), ("bbb", "-")], ("name", "ns"))
    assert text.splitlines() == ["T", "=", "name     ns", "----  -----", "a     1,234", "bbb       -"]
    with pytest.raises(BenchmarkError):
        format_table("T", [("only-one",)], ("a", "b"))


ROW = re.compile(r"^(?P<scenario>(retry|breaker|limiter|metrics)[^:]*: .+?)\s{2,}(?P<impl>\S.*?)\s{2,}"
                 r"(?P<ns>[\d,]+|-)\s+(?P<over>[-+\d,]+|-)\s+(?P<floor>[\d.,]+x|-)\s+(?P<peer>[\d.,]+x|-)$")


def _rows(out: str) -> list[re.Match[str]]:
    return [m for line in out.splitlines() if (m := ROW.match(line))]


@pytest.mark.timeout(60)
def test_components_quick_smoke_measures_every_scenario(capsys) -> None:
    assert bench_components.main(["--quick"]) == 0
    out = capsys.readouterr().out
    rows = _rows(out)
    labels = {m["impl"] for m in rows}
    assert {"RetryHandler.execute", "CircuitBreaker.execute", "RateLimiter token-bucket",
            "RateLimiter sliding-window", "MetricsCollector.record", "MetricsCollector.get_stats"} <= labels
    assert {"tenacity.Retrying", "pybreaker.CircuitBreaker.call", "limits FixedWindow",
            "limits MovingWindow", "prometheus Histogram.observe", "numpy.percentile(raw list)"} <= labels
    assert len(rows) == 27
    for m in rows:
        assert int(m["ns"].replace(",", "")) > 0
        assert m["floor"] != "-"
        if m["impl"].startswith(("RetryHandler", "CircuitBreaker", "RateLimiter", "MetricsCollector.record")):
            assert m["peer"] != "-", m.group(0)
    assert re.search(r"worst relative error of p50/p95/p99 vs exact numpy.percentile = [\d.]+%", out)


@pytest.mark.timeout(60)
def test_missing_peers_are_skipped_with_a_message(monkeypatch, capsys) -> None:
    for name in ("tenacity", "pybreaker", "limits"):
        monkeypatch.setitem(sys.modules, name, None)  # makes `import name` raise ImportError
    argv = ["--quick", "--group", "retry", "--group", "breaker", "--group", "limiter", "--keys", "50"]
    assert bench_components.main(argv) == 0
    out = capsys.readouterr().out
    assert "tenacity.Retrying (skipped)" in out and "pybreaker.CircuitBreaker.call (skipped)" in out
    assert "skipped limits MovingWindow: limits is not installed (pip install -e '.[bench]')" in out
    peers = [m for m in _rows(out) if m["impl"].startswith(("tenacity", "pybreaker", "limits"))]
    assert len(peers) == 8 and all(m["impl"].endswith("(skipped)") and m["ns"] == "-" for m in peers)
    assert all(m["peer"] == "-" for m in _rows(out))
    assert "limiter: 50 keys round-robin, admitting" in out and "metrics:" not in out


def test_a_scenario_that_stops_holding_fails_the_run() -> None:
    case = bench_components.Case("s", "impl", bench_components.REFERENCE, lambda: None, check=lambda: False)
    with pytest.raises(BenchmarkError, match="scenario no longer holds"):
        bench_components.run([case], repeat=1, number=1)


def test_bad_counts_are_rejected() -> None:
    for flag in ("--keys", "--number", "--repeat", "--samples"):
        with pytest.raises(BenchmarkError, match=f"{flag} must be >= 1, got 0"):
            bench_components.main(["--quick", flag, "0"])


def test_limiter_scenario_check_detects_a_limiter_that_admits_a_hot_key() -> None:
    hits: list[str] = []

    def always_admits(key: str) -> bool:
        hits.append(key)
        return True

    case = bench_components._limiter_case("s", "x", bench_components.PEER, always_admits, lambda: "hot",
                                          admitting=False, peer=None)
    assert case.setup is not None and case.check is not None
    case.setup()
    assert len(hits) == bench_components.LIMIT_PER_MINUTE and case.check() is False
