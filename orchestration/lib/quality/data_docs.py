"""Offline Data Docs: a static HTML page per source built from the stored check results."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path
from typing import Any

from orchestration.lib.engines.warehouse import connect
from orchestration.lib.quality.outcomes import RESULTS_TABLE
from orchestration.lib.quality.policy import ERROR
from orchestration.lib.quality.rules import suite_name
from orchestration.lib.quality.suites import SUITES_DIR, _gx

# GX's pages are written for Bootstrap 4, jQuery and Font Awesome from CDNs, with GX's logo and a
# newsletter banner from its servers. Offline (and by policy) none of that loads: the page keeps
# GX's markup, and this stylesheet covers the Bootstrap classes GX uses, the status icons become
# text, and the two filter buttons get a script of their own (vanilla JS, inline).
_DATA_DOCS_CSS = """
*,*::before,*::after{box-sizing:border-box}
body{font-family:-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;margin:0;color:#1f2933;background:#f5f7fa;font-size:14px;line-height:1.45}
a{color:#2f6fb0;text-decoration:none} a:hover{text-decoration:underline}
h1{font-size:24px;margin:0 0 8px} h4{font-size:19px;margin:0 0 4px} h5,.h5{font-size:16px;margin:14px 0 6px} h6,.h6{font-size:13px;margin:0}
code{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px;background:#eef1f5;padding:1px 4px;border-radius:3px}
.hs-nav{padding:10px 28px;background:#1f2933} .hs-nav a{color:#fff}
.navbar{display:flex;align-items:center;padding:6px 28px;background:#fff;border-bottom:1px solid #dde3ea}
.navbar-brand{display:none}
.breadcrumb{display:flex;flex-wrap:wrap;list-style:none;margin:0;padding:0;gap:6px;color:#6b7785}
.breadcrumb-item+.breadcrumb-item::before{content:"/";padding-right:6px}
.container-fluid{padding:18px 28px} .row{display:flex;flex-wrap:wrap;margin:0 -8px}
.row>*{padding:0 8px} .col-12,.col-xs-12,.col-sm-12{flex:0 0 100%;max-width:100%} .col-6{flex:0 0 50%;max-width:50%}
@media(min-width:768px){.col-md-2{flex:0 0 16.66%;max-width:16.66%}.col-md-10{flex:0 0 83.33%;max-width:83.33%}.d-md-block{display:block!important}.d-md-inline-flex{display:inline-flex!important}}
@media(min-width:992px){.col-lg-2{flex:0 0 18%;max-width:18%}.col-lg-10{flex:0 0 82%;max-width:82%}}
.px-0{padding-left:0!important;padding-right:0!important} .p-0{padding:0!important} .m-0{margin:0!important}
.mb-0{margin-bottom:0!important} .d-none{display:none} .d-flex{display:flex} .float-left{float:left}
.hidden,[hidden]{display:none!important}
.lead{font-size:15px;color:#52606d}
.card{background:#fff;border:1px solid #dde3ea;border-radius:6px;margin:0 0 12px}
.card-header{padding:8px 12px;border-bottom:1px solid #dde3ea;background:#f0f3f7;border-radius:6px 6px 0 0}
.card-body{padding:10px 12px} .sticky{position:sticky;top:8px}
.nav{list-style:none;margin:0;padding:4px 0} .nav-link{display:block;padding:2px 12px;font-size:13px}
.btn-group{display:flex;flex-wrap:wrap;gap:4px} .btn{display:inline-block;padding:3px 10px;border:1px solid #2f6fb0;border-radius:4px;color:#2f6fb0;background:#fff;cursor:pointer;font-size:13px}
.btn.active{background:#2f6fb0;color:#fff} .btn input{display:none}
.table{border-collapse:collapse;width:100%;background:#fff;margin:6px 0 14px;font-size:13px}
.table th,.table td{border:1px solid #dde3ea;padding:5px 8px;text-align:left;vertical-align:top}
.table thead th{background:#f0f3f7}
.table-responsive{overflow-x:auto} .show-scrollbars{overflow-wrap:anywhere}
.alert{padding:6px 10px;border-radius:4px;margin:6px 0} .alert-secondary{background:#eef1f5}
.badge{display:inline-block;padding:1px 7px;border-radius:9px;background:#6b7785;color:#fff;font-size:12px}
.text-danger{color:#c53030} .text-success{color:#2f855a} .text-muted{color:#6b7785}
.collapse:not(.show){display:none}
.hs-icon{font-weight:700;font-size:15px} .hs-fail-row{background:#fff5f5}
.ge-section{margin-bottom:18px}
"""

# Show All / Failed Only: what GX's jQuery did, without jQuery.
_DATA_DOCS_JS = """
function _hsSucceeded(){var out=[];document.querySelectorAll('.hide-succeeded-validation-target-child').forEach(function(e){out.push(e.parentElement)});document.querySelectorAll('.hide-succeeded-validation-target').forEach(function(e){out.push(e)});document.querySelectorAll('.hide-succeeded-validations-column-section-target-child').forEach(function(e){var s=e.parentElement&&e.parentElement.parentElement;if(s){out.push(s);if(s.id){document.querySelectorAll('a[href$="'+s.id+'"]').forEach(function(a){out.push(a)})}}});return out}
function _hsButtons(active){document.querySelectorAll('.btn-group .btn').forEach(function(b,i){b.classList.toggle('active',i===active)})}
function showAllValidations(){_hsSucceeded().forEach(function(e){e.classList.remove('hidden')});_hsButtons(0)}
function hideSucceededValidations(){_hsSucceeded().forEach(function(e){e.classList.add('hidden')});_hsButtons(1)}
document.addEventListener('click',function(ev){var a=ev.target.closest('a[data-toggle="collapse"]');if(!a)return;ev.preventDefault();var t=document.getElementById((a.getAttribute('href')||'').slice(1));if(t)t.classList.toggle('show')});
"""


def _offline_html(page: str) -> str:
    """Everything external removed, local styles, text icons and the filter script inlined."""
    page = re.sub(r"<link[^>]+href=\"(?:https?:)?//[^>]*>", "", page)
    page = re.sub(r"<script[^>]+src=\"(?:https?:)?//[^\"]*\"[^>]*>\s*</script>", "", page)
    page = re.sub(r"<script\b[^>]*>.*?</script>", "", page, flags=re.S)  # GX's inline scripts need jQuery
    page = re.sub(r"<link[^>]+rel=\"shortcut icon\"[^>]*>", "", page)  # a favicon that is not there
    # GX's logo (from S3) and newsletter banner (greatexpectations.io): not ours to load
    page = re.sub(r"<a[^>]*>\s*<img[^>]+src=\"https?://[^\"]*\"[^>]*>\s*</a>", "", page)
    page = re.sub(r"<img[^>]+src=\"https?://[^\"]*\"[^>]*>", "", page)
    page = re.sub(r"<footer>.*?</footer>", "", page, flags=re.S)
    page = re.sub(r"<a[^>]+href=\"https?://[^\"]*\"[^>]*>(.*?)</a>", r"\1", page, flags=re.S)
    page = re.sub(r"url\(['\"]?(?:https?:)?//[^)]*\)", "none", page)  # GX's inline CSS (its logo)
    # Font Awesome icons (the Status column) as text
    page = re.sub(
        r"<i\s+class=\"fas fa-check-circle text-success\"[^>]*>\s*</i>",
        "<span class='hs-icon text-success' title='passed'>&#10004;</span>",
        page,
    )
    page = re.sub(
        r"<i\s+class=\"fas fa-times text-danger\"[^>]*>\s*</i>",
        "<span class='hs-icon text-danger' title='failed'>&#10008;</span>",
        page,
    )
    page = re.sub(r"<i\s+class=\"fas [^\"]*\"[^>]*>\s*</i>", "", page)
    return page.replace(
        "</head>", f"<style>{_DATA_DOCS_CSS}</style><script>{_DATA_DOCS_JS}</script></head>", 1
    )


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
    for check_name, expectation, column, severity, passed, observed, unexpected, sample, checked in rows:
        spec = by_check.get(check_name, {"kwargs": {"column": column} if column else {}, "meta": {}})
        config = ExpectationConfiguration(
            type=expectation,
            kwargs=spec.get("kwargs", {}),
            meta={**spec.get("meta", {}), "check_name": check_name, "severity": severity},
            description=spec.get("description") or check_name,
        )
        result: dict[str, Any] = {"observed_value": observed}
        if unexpected is not None:
            # GX's renderers want the share and the number of rows the check saw: rows_checked
            # (stored per result) when known, else what observed_value says for column checks.
            if checked:
                element_count, percent = int(checked), 100.0 * unexpected / checked
            else:
                try:
                    percent = float(observed) if expectation.startswith("expect_column_values") else 0.0
                except (TypeError, ValueError):
                    percent = 0.0
                element_count = round(unexpected * 100 / percent) if percent else unexpected
            result.update(
                unexpected_count=unexpected,
                unexpected_percent=percent,
                unexpected_percent_nonmissing=percent,
                unexpected_percent_total=percent,
                missing_count=0,
                missing_percent=0.0,
                element_count=element_count,
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


def _failed_checks_html(rows: list[tuple]) -> str:
    """Each failed check with its row counts and the query returning its rows (file, row number,
    batch first): the path from a red mark to the data."""
    from orchestration.lib.quality.review import failing_rows_query, suite_expectations

    items = []
    suites: dict[str, dict[str, Any]] = {}
    for source, check_name, _exp, _col, severity, passed, _obs, unexpected, _sample, checked, _at in rows:
        if passed:
            continue
        spec = suites.setdefault(source, suite_expectations(source)).get(check_name)
        query = failing_rows_query(source, spec)
        count = "-" if unexpected is None else f"{unexpected:,}" + (f" of {checked:,}" if checked else "")
        items.append(
            f"<tr><td>{html.escape(severity)}</td><td><a href='validations/{html.escape(source)}.html'>"
            f"{html.escape(check_name)}</a></td><td>{count}</td><td>"
            + (f"<code>{html.escape(query)};</code>" if query else "table-level: no rows to list")
            + "</td></tr>"
        )
    if not items:
        return "<h5>No check failed.</h5>"
    return (
        "<h5>Failed checks: the rows behind each (run the query on the warehouse, e.g. "
        "<code>healthscore sql --db data/warehouse/healthscore.duckdb</code>)</h5>"
        "<table class='table'><thead><tr><th>severity</th><th>check</th><th>rows failing</th>"
        "<th>query</th></tr></thead><tbody>" + "".join(items) + "</tbody></table>"
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
                   unexpected_count, failing_sample, rows_checked, checked_at
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
        page = re.sub(r'href="(\.\./)+index\.html"', 'href="../index.html"', page)  # GX's "Home"
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
        f"<style>{_DATA_DOCS_CSS}</style></head><body><div class='container-fluid'><h1>Data Docs</h1>"
        f"<p>Quality run <code>{html.escape(run_id)}</code> ({len(rows)} expectations). Rendered by Great "
        "Expectations from quality.check_results; no external resources. A check with <b>error</b> "
        "severity stops the scores built on its source; a <b>warning</b> does not: the rows it flags "
        "were loaded and scored anyway.</p>"
        "<table class='table'><thead><tr><th>source</th><th>expectations</th><th>failed</th>"
        "<th>failed (error)</th></tr></thead><tbody>"
        + "".join(index_rows)
        + "</tbody></table>"
        + _failed_checks_html(rows)
        + "</div></body></html>",
        encoding="utf-8",
    )
    return index
