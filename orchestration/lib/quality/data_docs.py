"""Offline Data Docs: a static HTML page per source built from the stored check results."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from orchestration.lib.engines.warehouse import connect
from orchestration.lib.quality.outcomes import RESULTS_TABLE
from orchestration.lib.quality.policy import ERROR
from orchestration.lib.quality.rules import suite_name
from orchestration.lib.quality.suites import SUITES_DIR, _gx

# =====================================================================================
# Data Docs (offline): rendered from the persisted results in quality.check_results
# =====================================================================================
# GX's HTML pulls Bootstrap, jQuery, Font Awesome and more from CDNs, so offline it is unstyled
# and its scripts fail. We strip every external <link>/<script> and inline a small stylesheet
# instead of shipping vendored copies: the pages are static tables, nothing needs the scripts.

_DATA_DOCS_CSS = """
body{font-family:-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;margin:0;padding:20px 28px;color:#1f2933}
a{color:#2f6fb0} table{border-collapse:collapse;margin:6px 0 14px;font-size:13px}
th,td{border:1px solid #dde3ea;padding:4px 8px;text-align:left;vertical-align:top}
.card{border:1px solid #dde3ea;border-radius:6px;margin:10px 0;padding:8px 14px}
.text-danger,.fa-times{color:#d64545} .text-success,.fa-check-circle{color:#3f9d5a}
nav,.navbar,.sticky{position:static}
.hs-nav{margin-bottom:14px;padding-bottom:8px;border-bottom:1px solid #dde3ea}
"""


def _offline_html(page: str) -> str:
    """Remove every external stylesheet and script (CDN) and inline the local stylesheet."""
    page = re.sub(r"<link[^>]+href=\"(?:https?:)?//[^>]*>", "", page)
    page = re.sub(r"<script[^>]+src=\"(?:https?:)?//[^\"]*\"[^>]*>\s*</script>", "", page)
    page = re.sub(r"<script\b[^>]*>.*?</script>", "", page, flags=re.S)  # inline scripts need jQuery
    return page.replace("</head>", f"<style>{_DATA_DOCS_CSS}</style></head>", 1)


def _validation_result(source: str, rows: list[tuple], run_id: str, checked_at: Any) -> Any:
    """A GX ExpectationSuiteValidationResult rebuilt from one source's check_results rows."""
    gx = _gx()
    from great_expectations.core import ExpectationSuiteValidationResult, ExpectationValidationResult
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

    del gx
    suite_path = SUITES_DIR / f"{source}.json"
    by_check = {}
    if suite_path.exists():
        for exp in json.loads(suite_path.read_text()).get("expectations", []):
            by_check[exp["meta"]["check_name"]] = exp
    results = []
    for check_name, expectation, column, severity, passed, observed, unexpected, sample in rows:
        spec = by_check.get(check_name, {"kwargs": {"column": column} if column else {}, "meta": {}})
        config = ExpectationConfiguration(
            type=expectation,
            kwargs=spec.get("kwargs", {}),
            meta={**spec.get("meta", {}), "check_name": check_name, "severity": severity},
            description=spec.get("description") or check_name,
        )
        result: dict[str, Any] = {"observed_value": observed}
        if unexpected is not None:
            # GX's renderers want the percentages too; observed_value holds the unexpected % for
            # column expectations (quality.md), 0 where it is not a number.
            try:
                percent = float(observed) if expectation.startswith("expect_column_values") else 0.0
            except (TypeError, ValueError):
                percent = 0.0
            result.update(
                unexpected_count=unexpected,
                unexpected_percent=percent,
                unexpected_percent_nonmissing=percent,
                unexpected_percent_total=percent,
                missing_count=0,
                missing_percent=0.0,
                # Not persisted: recovered from the count and the percentage where possible.
                element_count=round(unexpected * 100 / percent) if percent else unexpected,
            )
            try:
                result["partial_unexpected_list"] = json.loads(sample or "[]")
            except json.JSONDecodeError:
                result["partial_unexpected_list"] = [sample]
        results.append(
            ExpectationValidationResult(success=bool(passed), expectation_config=config, result=result)
        )
    passed_n = sum(1 for r in results if r.success)
    return ExpectationSuiteValidationResult(
        success=passed_n == len(results),
        results=results,
        suite_name=suite_name(source),
        statistics={
            "evaluated_expectations": len(results),
            "successful_expectations": passed_n,
            "unsuccessful_expectations": len(results) - passed_n,
            "success_percent": 100.0 * passed_n / len(results) if results else 100.0,
        },
        meta={"run_id": {"run_name": run_id, "run_time": str(checked_at)}, "active_batch_definition": None},
    )


def build_data_docs(warehouse_path: Path | str, out_dir: Path | str, run_id: str | None = None) -> Path:
    """GX Data Docs for one run (default: the latest) as static files readable offline.

    Reads quality.check_results (warehouse or published snapshot, read-only), renders one GX
    validation page per source into `out_dir`, and writes `index.html` linking them. Returns it.
    """
    out = Path(out_dir)
    with connect(warehouse_path, read_only=True) as con:
        if run_id is None:
            row = con.execute(
                f"select run_id from {RESULTS_TABLE} group by run_id order by max(checked_at) desc limit 1"
            ).fetchone()
            if row is None:
                raise LookupError(f"{RESULTS_TABLE} is empty: no quality run to document")
            run_id = row[0]
        rows = con.execute(
            f"""select source, check_name, expectation, column_name, severity, passed, observed_value,
                   unexpected_count, failing_sample, checked_at
            from {RESULTS_TABLE} where run_id = ? order by source, check_name""",
            [run_id],
        ).fetchall()
    if not rows:
        raise LookupError(f"no rows in {RESULTS_TABLE} for run {run_id}")
    _gx()
    from great_expectations.render.renderer import ValidationResultsPageRenderer
    from great_expectations.render.view import DefaultJinjaPageView

    pages = out / "validations"
    pages.mkdir(parents=True, exist_ok=True)
    by_source: dict[str, list[tuple]] = {}
    checked: dict[str, Any] = {}
    for source, *rest, checked_at in rows:
        by_source.setdefault(source, []).append(tuple(rest))
        checked[source] = checked_at
    renderer, view = ValidationResultsPageRenderer(), DefaultJinjaPageView()
    index_rows = []
    for source, source_rows in sorted(by_source.items()):
        validation = _validation_result(source, source_rows, run_id, checked[source])
        page = _offline_html(view.render(renderer.render(validation)))
        nav = "<div class='hs-nav'><a href='../index.html'>&larr; all sources</a></div>"
        page = re.sub(r"(<body[^>]*>)", r"\1" + nav, page, count=1)
        (pages / f"{source}.html").write_text(page, encoding="utf-8")
        stats = validation.statistics
        errors = sum(1 for r in source_rows if r[3] == ERROR and not r[4])
        index_rows.append(
            f"<tr><td><a href='validations/{source}.html'>{source}</a></td>"
            f"<td>{stats['evaluated_expectations']}</td><td>{stats['unsuccessful_expectations']}</td>"
            f"<td class='{'text-danger' if errors else 'text-success'}'>{errors}</td></tr>"
        )
    index = out / "index.html"
    index.write_text(
        "<!doctype html><html><head><meta charset='utf-8'><title>Data Docs</title>"
        f"<style>{_DATA_DOCS_CSS}</style></head><body><h1>Data Docs</h1>"
        f"<p>Quality run <code>{run_id}</code> ({len(rows)} expectations). Rendered by Great Expectations "
        "from quality.check_results; no external resources.</p>"
        "<table><tr><th>source</th><th>expectations</th><th>failed</th><th>failed (error)</th></tr>"
        + "".join(index_rows)
        + "</table></body></html>",
        encoding="utf-8",
    )
    return index
