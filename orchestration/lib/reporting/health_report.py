"""The health report: one static HTML page with inline SVG charts, no network at all.

Reads a published snapshot (or the warehouse file, read-only) and shows the grade distribution,
the score trend over the published history, the most at-risk accounts with their reasons, the
biggest movers, the data-quality status and, when the backtesting pipeline has run, its summary.

    healthscore report --out data/published/report.html
"""

from __future__ import annotations

import datetime as dt
import html
import os
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import duckdb

from orchestration.lib.engines.warehouse import connect
from orchestration.lib.reporting.svg import date_lines, grade_bars

OBJECTIVE = "retention_risk"
GRADE_ORDER = ("red", "yellow", "green", "churned", "insufficient_data")
GRADE_COLORS = {
    "red": "#d64545",
    "yellow": "#e0a526",
    "green": "#3f9d5a",
    "churned": "#6b6b6b",
    "insufficient_data": "#a8b3bd",
}
_GRADE_SORT = (
    "case grade when 'red' then 1 when 'yellow' then 2 when 'green' then 3 when 'churned' then 4 else 5 end"
)


def _tables(con: duckdb.DuckDBPyConnection) -> set[str]:
    rows = con.execute("select table_schema, table_name from information_schema.tables").fetchall()
    return {f"{s}.{t}" for s, t in rows}


def _current_relation(tables: set[str]) -> str | None:
    for name in ("bi.health_scores_current", "scores.health_scores_current"):
        if name in tables:
            return name
    return None


def _history_relation(tables: set[str]) -> str | None:
    for name in ("bi.fct_health_scores", "scores.health_scores"):
        if name in tables:
            return name
    return None


# ------------------------------------------------------------------------------------------
# Queries (also used by the publish asset's metadata)
# ------------------------------------------------------------------------------------------


def grade_distribution(path: Path | str, objective: str = OBJECTIVE) -> dict[str, int]:
    with connect(path, read_only=True) as con:
        return _grade_counts(con, objective)


def _grade_counts(con: duckdb.DuckDBPyConnection, objective: str = OBJECTIVE) -> dict[str, int]:
    current = _current_relation(_tables(con))
    if current is None:
        return {}
    rows = con.execute(
        f"select grade, count(*) from {current} where objective = ? group by grade order by {_GRADE_SORT}",
        [objective],
    ).fetchall()
    return {g: int(n) for g, n in rows}


def _at_risk(con: duckdb.DuckDBPyConnection, limit: int, objective: str = OBJECTIVE) -> list[tuple]:
    current = _current_relation(_tables(con))
    if current is None:
        return []
    return con.execute(
        f"""select account_id, owner, segment, round(health_score, 1), grade, round(confidence, 2),
               round(score_change, 1), coalesce(top_reasons, '')
        from {current}
        where objective = ? and grade not in ('churned', 'insufficient_data')
        order by health_score asc nulls last, account_id
        limit {int(limit)}""",
        [objective],
    ).fetchall()


def at_risk_preview(path: Path | str, limit: int = 10) -> str:
    """The most at-risk accounts as a markdown table (Dagster metadata)."""
    with connect(path, read_only=True) as con:
        rows = _at_risk(con, limit)
    if not rows:
        return "none"
    lines = ["| account | owner | score | grade | confidence | reasons |", "|---|---|---:|---|---:|---|"]
    for acc, owner, _seg, score, grade, conf, _chg, reasons in rows:
        lines.append(f"| {acc} | {owner or ''} | {score} | {grade} | {conf} | {reasons.replace('|', '/')} |")
    return "\n".join(lines)


def collect(con: duckdb.DuckDBPyConnection, top_n: int = 20, movers_n: int = 10) -> dict[str, Any]:
    """Everything the report shows, as plain Python data."""
    tables = _tables(con)
    data: dict[str, Any] = {"tables": tables}
    if "scores.score_runs" in tables:
        data["run"] = con.execute(
            """select score_version, scorecard_name, scorecard_version, as_of_start, as_of_end,
                   accounts_scored, computed_at
            from scores.score_runs order by score_version desc limit 1"""
        ).fetchone()
    data["grades"] = _grade_counts(con)
    data["at_risk"] = _at_risk(con, top_n)
    history = _history_relation(tables)
    data["trend"] = []
    if history:
        # One score per account and date: the restated history (bi) or, in a bare warehouse,
        # the newest version per date.
        source = (
            history
            if history.startswith("bi.")
            else (
                f"""(select * from {history} qualify row_number() over (
                    partition by account_id, as_of_date, objective order by score_version desc) = 1)"""
            )
        )
        data["trend"] = con.execute(
            f"""select as_of_date, avg(health_score),
                   count(*) filter (where grade = 'red'),
                   count(*) filter (where grade = 'yellow'),
                   count(*) filter (where grade = 'green'),
                   count(*) filter (where grade = 'churned'),
                   count(*)
            from {source} h where objective = ? group by as_of_date order by as_of_date""",
            [OBJECTIVE],
        ).fetchall()
    current = _current_relation(tables)
    data["fallers"] = data["risers"] = []
    if current:
        movers = f"""select account_id, owner, round(previous_score, 1), round(health_score, 1),
                   round(score_change, 1), grade, coalesce(change_drivers, '')
            from {current}
            where objective = ? and score_change is not null"""
        data["fallers"] = con.execute(
            movers + f" and score_change < 0 order by score_change asc, account_id limit {movers_n}",
            [OBJECTIVE],
        ).fetchall()
        data["risers"] = con.execute(
            movers + f" and score_change > 0 order by score_change desc, account_id limit {movers_n}",
            [OBJECTIVE],
        ).fetchall()
    data["failed_checks"] = []
    data["checks_run"] = None
    if "quality.check_results" in tables:
        run = con.execute(
            "select run_id, max(checked_at), count(*) from quality.check_results "
            "group by run_id order by max(checked_at) desc limit 1"
        ).fetchone()
        if run:
            data["checks_run"] = run
            data["failed_checks"] = con.execute(
                """select severity, source, check_name, coalesce(column_name, ''), observed_value, unexpected_count
                from quality.check_results where run_id = ? and not passed
                order by case severity when 'error' then 0 else 1 end, source, check_name""",
                [run[0]],
            ).fetchall()
    data["quarantine"] = []
    if "raw._quarantine" in tables:
        data["quarantine"] = con.execute(
            """select source, column_name, reason, count(*) from raw._quarantine
            group by source, column_name, reason order by source, count(*) desc, column_name"""
        ).fetchall()
    data["backtest"] = _backtest(con, tables)
    return data


def _backtest(con: duckdb.DuckDBPyConnection, tables: set[str]) -> dict[str, Any] | None:
    """The newest backtest run and its metrics; None when the backtest schema is absent or unreadable."""
    if "backtest.backtest_runs" not in tables:
        return None
    try:
        runs = con.execute("select * from backtest.backtest_runs order by started_at desc limit 1")
        columns = [d[0] for d in runs.description]
        row = runs.fetchone()
        if row is None:
            return None
        run = dict(zip(columns, row, strict=True))
        metrics: list[tuple] = []
        if "backtest.backtest_metrics" in tables:
            metrics = con.execute(
                """select scorecard, period, metric, value from backtest.backtest_metrics
                where run_id = ? order by scorecard, period, metric""",
                [run.get("run_id")],
            ).fetchall()
        return {"run": run, "metrics": metrics}
    except duckdb.Error:
        return None  # another schema version of the backtest tables: leave the section out


# ------------------------------------------------------------------------------------------
# SVG charts
# ------------------------------------------------------------------------------------------


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value))


# ------------------------------------------------------------------------------------------
# HTML
# ------------------------------------------------------------------------------------------

CSS = """
body{font-family:-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;margin:0;color:#1f2933;background:#f5f7fa}
main{max-width:1100px;margin:0 auto;padding:24px}
h1{margin:0 0 4px;font-size:26px} h2{font-size:19px;margin:0 0 12px}
section{background:#fff;border:1px solid #dde3ea;border-radius:6px;padding:16px 20px;margin:16px 0}
table{border-collapse:collapse;width:100%;font-size:13px} th,td{padding:5px 8px;border-bottom:1px solid #e6eaef;text-align:left;vertical-align:top}
th{background:#f0f3f7} td.num{text-align:right;font-variant-numeric:tabular-nums}
.muted{color:#6b7785} .badge{display:inline-block;padding:1px 7px;border-radius:9px;color:#fff;font-size:12px}
.grid{stroke:#e3e7ec} .axis{font-size:11px;fill:#6b7785} .lbl{font-size:13px;fill:#1f2933} .val{font-size:12px;fill:#1f2933}
.kpis{display:flex;gap:16px;flex-wrap:wrap} .kpi{background:#f0f3f7;border-radius:6px;padding:8px 14px}
.kpi b{display:block;font-size:20px} .ok{color:#3f9d5a} .bad{color:#d64545} .two{display:grid;grid-template-columns:minmax(0,1fr) minmax(0,1fr);gap:16px} .two section{overflow-x:auto}
"""


def _badge(grade: str) -> str:
    return f"<span class='badge' style='background:{GRADE_COLORS.get(grade, '#888')}'>{_e(grade)}</span>"


def _table(
    headers: Sequence[str],
    rows: Sequence[Sequence[Any]],
    numeric: set[int] = frozenset(),
    raw: set[int] = frozenset(),
    id_: str = "",
) -> str:
    if not rows:
        return "<p class='muted'>None.</p>"
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = []
    for row in rows:
        cells = []
        for i, v in enumerate(row):
            text = v if i in raw else _e(f"{v:,}" if isinstance(v, int) and not isinstance(v, bool) else v)
            cells.append(f"<td class='num'>{text}</td>" if i in numeric else f"<td>{text}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    attr = f" id='{id_}'" if id_ else ""
    return f"<table{attr}><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def render_report(data: dict[str, Any], generated_at: dt.datetime | None = None) -> str:
    generated_at = generated_at or dt.datetime.now(dt.UTC).replace(microsecond=0, tzinfo=None)
    run = data.get("run")
    grades: dict[str, int] = data.get("grades", {})
    total = sum(grades.values())
    subtitle = (
        f"Score version {run[0]} &middot; scorecard {_e(run[1])} {_e(run[2])} &middot; as of {_e(run[4])} "
        f"&middot; {run[5]:,} accounts &middot; published {_e(str(run[6])[:19])} UTC"
        if run
        else "No scores published yet."
    )
    errors = [c for c in data.get("failed_checks", []) if c[0] == "error"]
    quarantined = sum(r[3] for r in data.get("quarantine", []))
    kpis = "".join(
        f"<div class='kpi'><span class='muted'>{_e(label)}</span><b{cls}>{value}</b></div>"
        for label, value, cls in (
            ("accounts", f"{total:,}", ""),
            ("red", f"{grades.get('red', 0):,}", " class='bad'" if grades.get("red") else ""),
            ("yellow", f"{grades.get('yellow', 0):,}", ""),
            ("green", f"{grades.get('green', 0):,}", ""),
            (
                "failed checks",
                f"{len(data.get('failed_checks', []))} ({len(errors)} error)",
                " class='bad'" if errors else " class='ok'",
            ),
            ("rows quarantined", f"{quarantined:,}", ""),
        )
    )
    trend = data.get("trend", [])
    dates = [r[0] for r in trend]
    avg_chart = date_lines(
        dates,
        {"average score": [None if r[1] is None else float(r[1]) for r in trend]},
        {"average score": "#2f6fb0"},
        title="Average retention health score per as_of_date",
        y_min=0,
        y_max=100,
    )
    count_chart = date_lines(
        dates,
        {
            g: [float(r[i]) for r in trend]
            for g, i in (("red", 2), ("yellow", 3), ("green", 4), ("churned", 5))
        },
        GRADE_COLORS,
        title="Accounts per grade per as_of_date",
        y_min=0,
    )
    at_risk_rows = [
        (acc, owner, seg, score, _badge(grade), conf, chg, reasons)
        for acc, owner, seg, score, grade, conf, chg, reasons in data.get("at_risk", [])
    ]
    mover_headers = ("account", "owner", "previous", "score", "change", "grade", "drivers")

    def movers(rows: list[tuple]) -> list[tuple]:
        return [(a, o, p, s, c, _badge(g), d) for a, o, p, s, c, g, d in rows]

    checks_run = data.get("checks_run")
    dq_note = (
        f"Latest quality run <code>{_e(checks_run[0])}</code> at {_e(checks_run[1])} UTC: "
        f"{checks_run[2]:,} expectations, {len(data.get('failed_checks', []))} failed."
        if checks_run
        else "No quality results yet."
    )
    backtest_html = ""
    bt = data.get("backtest")
    if bt:
        r = bt["run"]
        summary = ", ".join(
            f"{k}: {_e(r[k])}"
            for k in (
                "run_id",
                "started_at",
                "scorecard_version",
                "as_of_from",
                "as_of_to",
                "rows",
                "leakage_passed",
            )
            if k in r
        )
        metric_rows = [(s, p, m, round(v, 4) if isinstance(v, float) else v) for s, p, m, v in bt["metrics"]]
        backtest_html = (
            f"<section id='backtest'><h2>Backtest</h2><p class='muted'>{summary}</p>"
            + _table(("scorecard", "period", "metric", "value"), metric_rows, numeric={3})
            + "</section>"
        )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<title>Account health report</title><style>{CSS}</style></head>
<body><main>
<h1>Account health report</h1>
<p class="muted">{subtitle}. Generated {_e(generated_at)} UTC.</p>
<section id="summary"><div class="kpis">{kpis}</div></section>
<div class="two">
<section id="grades"><h2>Grade distribution (retention health, current)</h2>{grade_bars(grades, GRADE_COLORS)}</section>
<section id="dq"><h2>Data quality</h2><p>{dq_note}</p>
{_table(("severity", "source", "check", "column", "observed", "unexpected"), data.get("failed_checks", []), numeric={5}, id_="failed-checks")}
<h3>Quarantined rows</h3>
{_table(("source", "column", "reason", "rows"), data.get("quarantine", []), numeric={3}, id_="quarantine")}</section>
</div>
<section id="trend"><h2>Score trend over the published history</h2>{avg_chart}{count_chart}</section>
<section id="at-risk"><h2>Most at-risk accounts</h2>
{_table(("account", "owner", "segment", "score", "grade", "confidence", "change", "reasons"), at_risk_rows, numeric={3, 5, 6}, raw={4}, id_="at-risk-table")}</section>
<div class="two">
<section id="fallers"><h2>Biggest drops</h2>{_table(mover_headers, movers(data.get("fallers", [])), numeric={2, 3, 4}, raw={5})}</section>
<section id="risers"><h2>Biggest gains</h2>{_table(mover_headers, movers(data.get("risers", [])), numeric={2, 3, 4}, raw={5})}</section>
</div>
{backtest_html}
</main></body></html>
"""


def write_report(source: Path | str, out: Path | str) -> Path:
    """Render the report from a snapshot or warehouse file (opened read-only); written atomically."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with connect(source, read_only=True) as con:
        page = render_report(collect(con))
    tmp = out.with_name(f".{out.name}.{uuid.uuid4().hex[:8]}.tmp")
    tmp.write_text(page, encoding="utf-8")
    os.replace(tmp, out)
    return out
