"""The backtest as a readable, offline HTML page (inline SVG, no scripts, no CDN) and the
`scorecard diff` impact preview."""

from __future__ import annotations

import datetime as dt
import html
import math
from pathlib import Path

import duckdb
import pandas as pd

from orchestration.lib.backtest.metrics import roc_points, verdict
from orchestration.lib.backtest.run import BacktestResult
from orchestration.lib.reporting.svg import bar_chart, line_chart
from orchestration.lib.scoring.scorecard import Scorecard
from orchestration.lib.scoring.scores import compute_scores, drop_score_temp_tables


def _f(v, digits: int = 3) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return html.escape(str(v))


def _table(df: pd.DataFrame, digits: int = 3) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{_f(v, digits)}</td>" for v in row) + "</tr>"
        for row in df.itertuples(index=False)
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def render_html(r: BacktestResult) -> str:
    m = r.metrics
    lab = r.labelled
    fpr, tpr = roc_points(lab["risk"].to_numpy(float), lab["churned"].to_numpy(bool))
    roc_series = [(f"{r.card.name} {r.card.version} (AUC {m['roc_auc']:.3f})", fpr, tpr)]
    if r.challenger_labelled is not None:
        c = r.challenger_labelled
        cf, ct = roc_points(c["risk"].to_numpy(float), c["churned"].to_numpy(bool))
        roc_series.append((f"challenger {r.challenger.version}", cf, ct))
    charts = [
        line_chart(
            roc_series,
            title="ROC: churners caught vs false alarms",
            x_label="false positive rate",
            y_label="true positive rate",
            y_range=(0, 1),
            diagonal=True,
        ),
        bar_chart(
            [str(d) for d in r.deciles["decile"]],
            r.deciles["lift"].tolist(),
            title="Lift by risk decile (1 = riskiest 10%)",
            y_label="churn rate / average",
            value_fmt="{:.1f}x",
            reference=1.0,
        ),
        bar_chart(
            r.bands["grade"].tolist(),
            r.bands["churn_rate"].tolist(),
            title=f"Churn rate by grade band ({'monotone' if r.monotone else 'NOT monotone'})",
            y_label=f"churned within {r.horizon_days} days",
            reference=m["base_rate"],
        ),
        line_chart(
            [
                (name, list(range(len(r.over_time))), r.over_time[col].tolist())
                for name, col in (("p90", "p90_score"), ("median", "p50_score"), ("p10", "p10_score"))
            ],
            title="Score distribution over time",
            y_label="health score",
            x_labels=[str(d) for d in r.over_time["as_of_date"]],
            y_range=(0, 100),
        ),
        line_chart(
            [("ROC AUC", list(range(len(r.over_time))), r.over_time["roc_auc"].tolist())],
            title="ROC AUC per as_of date",
            y_label="AUC",
            y_range=(0.3, 1.0),
            x_labels=[str(d) for d in r.over_time["as_of_date"]],
        ),
    ]
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>Backtest "
        f"{html.escape(r.card.name)} {html.escape(r.card.version)}</title><style>"
        "body{font-family:sans-serif;max-width:1100px;margin:24px auto;color:#222}"
        "table{border-collapse:collapse;margin:8px 0 18px}td,th{border:1px solid #ccc;padding:3px 8px;"
        "font-size:13px;text-align:right}th{background:#f3f3f3}.warn{color:#b00}.ok{color:#070}"
        "svg{margin:6px;border:1px solid #eee}</style></head><body>",
        f"<h1>Backtest: {html.escape(r.card.name)} {html.escape(r.card.version)}</h1>",
        f"<p>Run {r.run_id}, generated {dt.datetime.now().replace(microsecond=0)}. {len(r.dates)} as_of dates "
        f"{r.dates[0]} to {r.dates[-1]}; label: {html.escape(r.label_words or f'churn within {r.horizon_days} days')}"
        + ("" if r.horizon_days == 0 else "; accounts already churned on the date are left out")
        + "; scores before human overrides.</p>",
    ]
    if r.card.notes:
        parts.append("<ul>" + "".join(f"<li>{html.escape(n)}</li>" for n in r.card.notes) + "</ul>")
    if r.leakage is not None:
        ok = getattr(r.leakage, "passed", False)
        parts.append(
            f"<p class='{'ok' if ok else 'warn'}'><b>Leakage guard:</b> {html.escape(str(r.leakage))}</p>"
        )
    parts.append("<h2>Headline</h2>" + _table(pd.DataFrame([m])))
    parts.append("<div>" + "".join(charts) + "</div>")
    parts.append(
        "<h2>Grade bands</h2><p>Rows published as insufficient_data (confidence below "
        f"{r.card.confidence.min_for_grade:g}) are counted on their own row, not in a band.</p>"
        + _table(r.bands)
    )
    if r.calibration:
        rel = r.calibration["reliability"]
        cm = r.calibration["metrics"]
        top = max(float(rel["mean_predicted"].max()), float(rel["observed_rate"].max()), 0.05)
        parts.append(
            "<h2>Churn probability: reliability</h2>"
            f"<p>Brier {cm['brier']:.4f} against {cm['brier_base_rate']:.4f} for the base rate alone "
            "(lower is better). Each point: a tenth of the rows by predicted probability; on the diagonal "
            "the probability means what it says.</p>"
            + line_chart(
                [("observed churn rate", rel["mean_predicted"].tolist(), rel["observed_rate"].tolist())],
                title="Reliability: predicted vs observed churn",
                x_label="mean predicted probability",
                y_label="observed churn rate",
                y_range=(0, top),
                diagonal=True,
            )
            + _table(rel)
        )
    parts.append("<h2>By segment</h2>" + _table(r.segments) + "<h2>By industry</h2>" + _table(r.industries))
    parts.append("<h2>Over time</h2>" + _table(r.over_time))
    if r.comparisons:
        cmp = pd.DataFrame([{**c, "verdict": verdict(c)} for c in r.comparisons])
        parts.append("<h2>Champion vs challenger (bootstrap over accounts, 95% CI)</h2>" + _table(cmp, 4))
    if r.suggestion is not None:
        s = r.suggestion
        parts.append(
            f"<h2>Suggested weights</h2><p>Trained on {len(s.train_dates)} dates {s.train_dates[0]}..{s.train_dates[-1]}, "
            f"evaluated on {len(s.test_dates)} dates {s.test_dates[0]}..{s.test_dates[-1]} "
            f"(gap of {r.horizon_days} days). Written to {html.escape(str(r.suggestion_path or '-'))}.</p>"
        )
        oot = pd.DataFrame([{"model": k, **v} for k, v in r.oot.items() if k != "models"])
        parts.append(_table(oot))
        parts.append(_table(pd.DataFrame([r.oot["models"]])))
        coef = pd.DataFrame(
            [
                {"factor": f, "coefficient": c, "suggested_weight": s.factor_weights.get(f)}
                for f, c in s.coefficients.items()
            ]
        )
        parts.append(_table(coef) + _table(pd.DataFrame([s.group_weights])))
        parts.append("<ul>" + "".join(f"<li>{html.escape(n)}</li>" for n in s.notes) + "</ul>")
    d = r.drift.copy()
    parts.append(f"<h2>Drift (PSI, warn above 0.2)</h2><p>{int(d['warn'].sum())} warnings.</p>" + _table(d))
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(r: BacktestResult, out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"backtest-{r.card.name}-{r.dates[-1]}.html"
    path.write_text(render_html(r))
    return path


# --------------------------------------------------------------------------- scorecard diff
def scorecard_diff(
    con: duckdb.DuckDBPyConnection,
    old: Scorecard,
    new: Scorecard,
    *,
    features_table: str,
    as_of: dt.date,
    objective: str = "retention_risk",
    top_factors: int = 3,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Grade transitions (old grade x new grade) and, per account that changes grade, the
    factors whose contributions moved most. Nothing is published."""
    from orchestration.lib.backtest.history import _ensure_empty_overrides

    out = {}
    for tag, card in (("old", old), ("new", new)):
        compute_scores(
            con,
            card,
            features_table=features_table,
            as_of_start=as_of,
            as_of_end=as_of,
            overrides_table=_ensure_empty_overrides(con),
        )
        con.execute(f"""create or replace temp table _diff_{tag}_s as select account_id, computed_score,
                        grade from _sc_final where objective = '{objective}'""")
        con.execute(f"""create or replace temp table _diff_{tag}_f as select account_id, factor_label,
                        contribution from _sc_factors where objective = '{objective}'
                        and as_of_date = date '{as_of.isoformat()}'""")
        drop_score_temp_tables(con)
        out[tag] = True
    transitions = con.execute(
        """select o.grade as old_grade, n.grade as new_grade, count(*) as accounts
           from _diff_old_s as o join _diff_new_s as n using (account_id)
           group by all order by accounts desc"""
    ).df()
    changed = con.execute(
        f"""with moved as (
                select o.account_id, f.factor_label,
                    coalesce(nf.contribution, 0) - coalesce(f.contribution, 0) as delta
                from _diff_old_s as o join _diff_new_s as n using (account_id)
                join _diff_old_f as f on f.account_id = o.account_id
                left join _diff_new_f as nf on nf.account_id = f.account_id and nf.factor_label = f.factor_label
                where o.grade <> n.grade),
            ranked as (select *, row_number() over (partition by account_id order by abs(delta) desc) as rk from moved)
            select o.account_id, o.grade as old_grade, n.grade as new_grade,
                round(o.computed_score, 1) as old_score, round(n.computed_score, 1) as new_score,
                string_agg(factor_label || ' ' || case when delta >= 0 then '+' else '' end
                    || cast(round(delta, 1) as varchar), ', ' order by rk) as top_moves
            from _diff_old_s as o join _diff_new_s as n using (account_id)
            join ranked as r on r.account_id = o.account_id and r.rk <= {int(top_factors)}
            where o.grade <> n.grade
            group by o.account_id, o.grade, n.grade, o.computed_score, n.computed_score
            order by abs(n.computed_score - o.computed_score) desc, o.account_id"""
    ).df()
    for t in ("old", "new"):
        con.execute(f"drop table if exists _diff_{t}_s")
        con.execute(f"drop table if exists _diff_{t}_f")
    return transitions, changed
