"""Reports: `render_report(run_dir)` writes report.html and charts/*.png for a run folder.

`harness report RUN_DIR` (harness/report/cli.py) and `harness compare` (compare.py) sit on top.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from harness.outputs import CHARTS_DIR, REPORT_FILE
from harness.report.data import ReportError, RunData, load_run
from harness.report.requests_view import RequestsError


def render_report(run_dir: Path | str, known_secrets: Iterable[str] = (), reuse_charts: bool = False) -> Path:
    """Render charts and the self-contained report.html into `run_dir`; returns the report's path.
    `reuse_charts`: keep the chart files already there (only the verdicts changed) when all exist.

    Raises ReportError when the folder cannot be read or the page would contain a secret.
    """
    from harness.report.charts import CHARTS, render_charts
    from harness.report.html import assert_no_secrets, render_html

    run = load_run(run_dir)
    try:
        existing = {name: run.run_dir / CHARTS_DIR / f"{name}.png" for name in CHARTS}
        if reuse_charts and all(path.is_file() for path in existing.values()):
            charts = existing
        else:
            charts = render_charts(run, run.run_dir / CHARTS_DIR)
        page = render_html(run, charts)
    except RequestsError as exc:  # a query over the records failed (e.g. out of memory): nothing is written
        raise ReportError(f"cannot aggregate the request records of {run.run_dir}: {exc}") from None
    finally:
        run.requests.close()
    assert_no_secrets(page, known_secrets)
    out = run.run_dir / REPORT_FILE
    tmp = out.with_suffix(".html.tmp")
    tmp.write_text(page)
    tmp.replace(out)
    return out


__all__ = ["ReportError", "RunData", "load_run", "render_report"]
