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
import re
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import duckdb

from orchestration.lib.engines.warehouse import connect
from orchestration.lib.reporting.at_risk import (
    OBJECTIVE,
    arr_at_risk,
    at_risk_accounts,
    current_relation,
    grade_counts,
    table_names,
)
from orchestration.lib.reporting.svg import date_lines, grade_bars

GRADE_ORDER = ("red", "yellow", "green", "churned", "insufficient_data")
GRADE_COLORS = {
    "red": "#d64545",
    "yellow": "#e0a526",
    "green": "#3f9d5a",
    "churned": "#6b6b6b",
    "insufficient_data": "#a8b3bd",
}


def _tables(con: duckdb.DuckDBPyConnection) -> set[str]:
    return table_names(con)


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
    current = current_relation(_tables(con))
    return grade_counts(con, current, objective) if current else {}


def at_risk_preview(path: Path | str, limit: int = 10) -> str:
    """The most at-risk accounts as a markdown table (Dagster metadata)."""
    with connect(path, read_only=True) as con:
        current = current_relation(_tables(con))
        rows = at_risk_accounts(con, current, limit) if current else []
    if not rows:
        return "none"
    lines = [
        "| account | name | owner | ARR | score | grade | reasons |",
        "|---|---|---|---:|---:|---|---|",
    ]
    for r in rows:
        reasons = (r["top_reasons"] or "").replace("|", "/")
        if r["override_action"]:
            reasons = f"override ({r['override_action']}): {r['override_reason'] or ''}; {reasons}"
        score = "" if r["health_score"] is None else f"{r['health_score']:.1f}"
        arr = "" if r["arr"] is None else f"{r['arr']:,.0f}"
        lines.append(
            f"| {r['account_id']} | {r['account_name'] or ''} | {r['owner'] or ''} | {arr} | {score} "
            f"| {r['grade']} | {reasons} |"
        )
    return "\n".join(lines)


def collect(con: duckdb.DuckDBPyConnection, top_n: int = 20, movers_n: int = 10) -> dict[str, Any]:
    """Everything the report shows, as plain Python data."""
    tables = _tables(con)
    data: dict[str, Any] = {"tables": tables}
    current = current_relation(tables)
    if "scores.score_runs" in tables:
        data["run"] = con.execute(
            """select score_version, scorecard_name, scorecard_version, as_of_start, as_of_end,
                   accounts_scored, computed_at
            from scores.score_runs order by score_version desc limit 1"""
        ).fetchone()
    # The date of the scores shown: a backfill's run scores older dates and leaves them current.
    data["as_of"] = (
        con.execute(f"select max(as_of_date) from {current} where objective = ?", [OBJECTIVE]).fetchone()[0]
        if current
        else None
    )
    data["grades"] = _grade_counts(con)
    data["at_risk"] = at_risk_accounts(con, current, top_n) if current else []
    data["arr_at_risk"] = arr_at_risk(con, current) if current else None
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
                """select severity, source, check_name, coalesce(column_name, ''), unexpected_count, rows_checked
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
main{max-width:1200px;margin:0 auto;padding:24px}
h1{margin:0 0 4px;font-size:26px} h2{font-size:19px;margin:0 0 12px} h3{font-size:15px;margin:16px 0 8px}
section{background:#fff;border:1px solid #dde3ea;border-radius:6px;padding:16px 20px;margin:16px 0}
table{border-collapse:collapse;width:100%;font-size:13px} th,td{padding:6px 8px;border-bottom:1px solid #e6eaef;text-align:left;vertical-align:top}
th{background:#f0f3f7;white-space:nowrap} td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td.id{white-space:nowrap} td.check{overflow-wrap:anywhere;min-width:18em}
.muted{color:#6b7785} .small{font-size:12px} .badge{display:inline-block;padding:1px 7px;border-radius:9px;color:#fff;font-size:12px}
.grid{stroke:#e3e7ec} .axis{font-size:11px;fill:#6b7785} .lbl{font-size:13px;fill:#1f2933} .val{font-size:12px;fill:#1f2933}
.kpis{display:flex;gap:16px;flex-wrap:wrap} .kpi{background:#f0f3f7;border-radius:6px;padding:8px 14px}
.kpi b{display:block;font-size:20px} .ok{color:#3f9d5a} .bad{color:#d64545} .warn{color:#b7791f}
.two{display:grid;grid-template-columns:minmax(0,1fr) minmax(0,1fr);gap:16px}
ul.reasons{margin:0;padding-left:16px} ul.reasons li{margin:0 0 2px}
.override{background:#fff5f5;border-left:3px solid #d64545;padding:2px 6px;margin:0 0 4px;font-size:12px}
.chips span{display:inline-block;margin:0 4px 3px 0;padding:1px 6px;border-radius:4px;background:#eef1f5;font-size:12px;white-space:nowrap}
.chips span.down{background:#fdecec} .chips span.up{background:#e8f5ec}
svg{max-width:100%;height:auto}
dl.metrics{display:grid;grid-template-columns:repeat(auto-fill,minmax(170px,1fr));gap:10px;margin:0}
dl.metrics div{background:#f0f3f7;border-radius:6px;padding:8px 12px} dl.metrics dt{color:#6b7785;font-size:12px} dl.metrics dd{margin:2px 0 0;font-size:18px;font-weight:600}
"""


def _badge(grade: str) -> str:
    return f"<span class='badge' style='background:{GRADE_COLORS.get(grade, '#888')}'>{_e(grade)}</span>"


def _table(
    headers: Sequence[str],
    rows: Sequence[Sequence[Any]],
    numeric: set[int] = frozenset(),
    raw: set[int] = frozenset(),
    id_: str = "",
    classes: dict[int, str] | None = None,
) -> str:
    if not rows:
        return "<p class='muted'>None.</p>"
    classes = classes or {}
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = []
    for row in rows:
        cells = []
        for i, v in enumerate(row):
            text = v if i in raw else _e(f"{v:,}" if isinstance(v, int) and not isinstance(v, bool) else v)
            cls = "num" if i in numeric else classes.get(i, "")
            cells.append(f"<td class='{cls}'>{text}</td>" if cls else f"<td>{text}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    attr = f" id='{id_}'" if id_ else ""
    return f"<table{attr}><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _reasons_html(text: str | None) -> str:
    items = [r.strip() for r in (text or "").split(";") if r.strip()]
    return "<ul class='reasons'>" + "".join(f"<li>{_e(r)}</li>" for r in items) + "</ul>" if items else ""


def _drivers_html(text: str | None) -> str:
    """'Usage trend -4.2, NPS +1.0' as chips, red for drops and green for gains."""
    chips = []
    for item in (text or "").split(", "):
        item = item.strip()
        if not item:
            continue
        cls = "down" if re.search(r" -[0-9.]+$", item) else "up" if re.search(r" \+[0-9.]+$", item) else ""
        chips.append(f"<span class='{cls}'>{_e(item)}</span>")
    return f"<div class='chips'>{''.join(chips)}</div>" if chips else ""


def _money(value: float | None) -> str:
    return "" if value is None else f"${value:,.0f}"


# The backtest metrics in words, in reading order; a metric not listed here is shown by its name.
_METRIC_LABELS = {
    "roc_auc": ("ROC AUC", "{:.3f}"),
    "pr_auc": ("PR AUC", "{:.3f}"),
    "base_rate": ("churn base rate", "{:.1%}"),
    "top_decile_lift": ("top-decile lift", "{:.2f}x"),
    "top_decile_precision": ("top-decile precision", "{:.1%}"),
    "top_decile_recall": ("top-decile recall", "{:.1%}"),
    "rows": ("account-dates scored", "{:,.0f}"),
    "accounts": ("accounts", "{:,.0f}"),
    "as_of_dates": ("as_of dates", "{:,.0f}"),
    "positives": ("churned within the horizon", "{:,.0f}"),
}


def _backtest_html(bt: dict[str, Any] | None) -> str:
    if not bt:
        return ""
    r = bt["run"]
    by_key: dict[tuple[str, str], dict[str, float]] = {}
    for scorecard, period, metric, value in bt["metrics"]:
        by_key.setdefault((scorecard, period), {})[metric] = value
    window = (
        f"{_e(r.get('as_of_from'))} to {_e(r.get('as_of_to'))}" if r.get("as_of_from") is not None else ""
    )
    horizon = f", churn within {r['horizon_days']} days" if r.get("horizon_days") else ""
    leak = r.get("leakage_passed")
    leak_text = (
        "<span class='ok'>leakage guard passed</span>"
        if leak is True
        else "<span class='bad'>leakage guard FAILED</span>"
        if leak is False
        else "leakage guard not run"
    )
    parts = [
        "<section id='backtest'><h2>Backtest</h2>",
        f"<p class='muted'>Scorecard {_e(r.get('scorecard_name', ''))} {_e(r.get('scorecard_version', ''))}: "
        f"scored as of {window}{horizon}; {leak_text}. Run {_e(r.get('run_id'))} "
        f"started {_e(str(r.get('started_at'))[:19])} UTC. Details: <code>healthscore backtest</code> "
        "writes a full report (docs/backtesting.md).</p>",
    ]
    for (scorecard, period), metrics in by_key.items():
        items = []
        for key, (label, fmt) in _METRIC_LABELS.items():
            if key in metrics and metrics[key] is not None:
                items.append(f"<div><dt>{_e(label)}</dt><dd>{_e(fmt.format(metrics[key]))}</dd></div>")
        for key, value in metrics.items():
            if key not in _METRIC_LABELS and value is not None:
                items.append(f"<div><dt>{_e(key)}</dt><dd>{_e(f'{value:,.4g}')}</dd></div>")
        title = _e(scorecard) + ("" if period == "all" else f" ({_e(period)})")
        parts.append(f"<h3>{title}</h3><dl class='metrics'>{''.join(items)}</dl>")
    parts.append("</section>")
    return "".join(parts)


def render_report(data: dict[str, Any], generated_at: dt.datetime | None = None) -> str:
    generated_at = generated_at or dt.datetime.now(dt.UTC).replace(microsecond=0, tzinfo=None)
    run = data.get("run")
    grades: dict[str, int] = data.get("grades", {})
    total = sum(grades.values())
    as_of = data.get("as_of") or (run[4] if run else None)
    subtitle = "No scores published yet."
    if run:
        subtitle = (
            f"Current scores as of {_e(as_of)} &middot; scorecard {_e(run[1])} {_e(run[2])} &middot; "
            f"{total:,} accounts &middot; latest score version {run[0]}, published {_e(str(run[6])[:19])} UTC"
        )
        if run[4] is not None and as_of is not None and run[4] < as_of:
            scored = _e(run[3]) if run[3] == run[4] else f"{_e(run[3])} to {_e(run[4])}"
            subtitle += f" (a backfill: it scored {scored}; the current scores stay those of {_e(as_of)})"
    failed = data.get("failed_checks", [])
    errors = [c for c in failed if c[0] == "error"]
    warnings = len(failed) - len(errors)
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
                f"{len(errors)} error{'' if len(errors) == 1 else 's'}, {warnings} warning{'' if warnings == 1 else 's'}",
                " class='bad'" if errors else " class='warn'" if warnings else " class='ok'",
            ),
            ("rows set aside", f"{quarantined:,}", ""),
            *(
                [("ARR at risk (calibrated)", _money(data["arr_at_risk"][0]), " class='bad'")]
                if data.get("arr_at_risk")
                else []
            ),
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
    at_risk_rows = []
    for r in data.get("at_risk", []):
        account = (
            f"<b>{_e(r['account_id'])}</b><br><span class='muted small'>{_e(r['account_name'] or '')}</span>"
        )
        why = ""
        if r["override_action"]:
            why = (
                f"<div class='override'>override ({_e(r['override_action'])}, computed "
                f"{_e(r['computed_label'])}): {_e(r['override_reason'] or '')}</div>"
            )
        score = None if r["health_score"] is None else round(r["health_score"], 1)
        change = None if r["score_change"] is None else round(r["score_change"], 1)
        at_risk_rows.append(
            (
                account,
                r["owner"] or "",
                r["segment"] or "",
                _money(r["arr"]),
                score,
                _badge(r["grade"]),
                f"{r['confidence']:.2f}",
                change,
                "" if r.get("churn_probability") is None else f"{r['churn_probability']:.0%}",
                why + _reasons_html(r["top_reasons"]),
            )
        )
    mover_headers = ("account", "owner", "previous", "score", "change", "grade", "what moved it (points)")

    def movers(rows: list[tuple]) -> list[tuple]:
        return [(a, o, p, s, c, _badge(g), _drivers_html(d)) for a, o, p, s, c, g, d in rows]

    checks_run = data.get("checks_run")
    dq_note = (
        f"Latest quality run <code>{_e(checks_run[0])}</code> at {_e(str(checks_run[1])[:19])} UTC: "
        f"{checks_run[2]:,} expectations, {len(errors)} failed with error severity (these block scoring), "
        f"{warnings} with warning severity (not blocking: the rows were loaded and scored). "
        "Rows, files and a query per check: <code>healthscore dq</code>."
        if checks_run
        else "No quality results yet."
    )
    check_rows = [tuple(row) for row in failed]
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
<section id="trend-avg"><h2>Average score over the published history</h2>{avg_chart}</section>
</div>
<section id="at-risk"><h2>Most at-risk accounts</h2><p class="muted small">Red first (an override can make an account red whatever its score), then the lowest scores. Reasons: the factors pulling the score down most.</p>
{_table(("account", "owner", "segment", "ARR", "score", "grade", "confidence", "change", "churn probability", "why"), at_risk_rows, numeric={3, 4, 6, 7, 8}, raw={0, 5, 9}, id_="at-risk-table", classes={0: "id"})}</section>
<section id="trend"><h2>Accounts per grade over the published history</h2>{count_chart}</section>
<section id="fallers"><h2>Biggest drops</h2>{_table(mover_headers, movers(data.get("fallers", [])), numeric={2, 3, 4}, raw={5, 6}, classes={0: "id"})}</section>
<section id="risers"><h2>Biggest gains</h2>{_table(mover_headers, movers(data.get("risers", [])), numeric={2, 3, 4}, raw={5, 6}, classes={0: "id"})}</section>
<section id="dq"><h2>Data quality</h2><p>{dq_note}</p>
{_table(("severity", "source", "check", "column", "rows failing", "rows checked"), check_rows, numeric={4, 5}, id_="failed-checks", classes={2: "check"})}
<h3>Rows set aside by the loader (raw._quarantine)</h3>
{_table(("source", "column", "reason", "rows"), data.get("quarantine", []), numeric={3}, id_="quarantine")}</section>
{_backtest_html(data.get("backtest"))}
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
