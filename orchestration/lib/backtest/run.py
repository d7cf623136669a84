"""`run_backtest` ties history, labels, metrics and suggestions together for the CLI and the
Dagster asset, and writes the tables of schema `backtest` (docs/backtesting.md)."""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from orchestration.lib.backtest.history import (
    History,
    find_relation,
    label_history,
    parse_days,
    sample_dates,
    score_history,
)
from orchestration.lib.backtest.metrics import (
    band_table,
    compare_auc,
    drift_table,
    evaluate,
    group_table,
    lift_by_decile,
    verdict,
)
from orchestration.lib.backtest.weights import Suggestion, suggest_weights
from orchestration.lib.scoring.scorecard import Scorecard, load_scorecard_for

TABLES_DDL = {
    "backtest_runs": """run_id varchar, started_at timestamp, scorecard_name varchar, scorecard_version varchar,
        scorecard_hash varchar, features_table varchar, as_of_from date, as_of_to date, every_days integer,
        horizon_days integer, as_of_dates integer, rows bigint, leakage_passed boolean, leakage_detail varchar,
        seconds double""",
    "backtest_metrics": """run_id varchar, scorecard varchar, period varchar, metric varchar, value double""",
    "backtest_bands": """run_id varchar, scorecard varchar, grade varchar, score_min double, score_max double,
        rows bigint, churned bigint, churn_rate double, lift double, monotone boolean""",
    "backtest_segments": """run_id varchar, scorecard varchar, dimension varchar, value varchar, rows bigint,
        accounts bigint, churned bigint, churn_rate double, roc_auc double, mean_score double""",
    "backtest_over_time": """run_id varchar, scorecard varchar, as_of_date date, rows bigint, churned bigint,
        churn_rate double, roc_auc double, mean_score double, p10_score double, p50_score double,
        p90_score double""",
    "scorecard_comparisons": """run_id varchar, champion varchar, challenger varchar, period varchar,
        rows bigint, accounts bigint, auc_champion double, auc_challenger double, auc_diff double,
        ci_low double, ci_high double, share_boot_better double, n_boot integer, verdict varchar""",
    "drift": """run_id varchar, scorecard varchar, name varchar, kind varchar, psi double, warn boolean,
        reference_mean double, latest_mean double, reference_missing double, latest_missing double,
        reference_from date, reference_to date, latest_from date, latest_to date""",
}


@dataclass
class BacktestResult:
    run_id: str
    card: Scorecard
    dates: list[dt.date]
    horizon_days: int
    labelled: pd.DataFrame
    history: History
    metrics: dict[str, float]
    bands: pd.DataFrame
    monotone: bool
    segments: pd.DataFrame
    industries: pd.DataFrame
    over_time: pd.DataFrame
    deciles: pd.DataFrame
    drift: pd.DataFrame
    leakage: object | None = None
    challenger: Scorecard | None = None
    challenger_labelled: pd.DataFrame | None = None
    comparisons: list[dict] = field(default_factory=list)
    suggestion: Suggestion | None = None
    suggestion_path: Path | None = None
    oot: dict[str, dict[str, float]] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    label_words: str = ""
    calibration: dict | None = None  # metrics and reliability of the card's churn probability


def calibration_check(labelled: pd.DataFrame, card: Scorecard) -> dict | None:
    """Brier score of the card's calibrated churn probability against the base rate's, and the
    reliability curve (mean predicted vs observed churn per tenth of predictions)."""
    cal = card.calibration
    if cal is None or not len(labelled):
        return None
    from orchestration.lib.backtest.calibration import brier, reliability

    y = labelled["churned"].to_numpy(bool)
    p = np.array([cal.probability(s) for s in labelled["computed_score"].to_numpy(float)])
    base = float(y.mean())
    return {
        "metrics": {
            "brier": brier(p, y),
            "brier_base_rate": brier(np.full(len(y), base), y),
            "mean_probability": float(p.mean()),
        },
        "reliability": reliability(p, y.astype(float)),
        "horizon_days": cal.horizon_days,
    }


def _over_time(df: pd.DataFrame) -> pd.DataFrame:
    base = group_table(df, "as_of_date")
    q = df.groupby("as_of_date")["computed_score"].quantile([0.1, 0.5, 0.9]).unstack()
    q.columns = ["p10_score", "p50_score", "p90_score"]
    return base.merge(q, left_on="as_of_date", right_index=True)


def _compare(champ: pd.DataFrame, chall: pd.DataFrame, n_boot: int, seed: int) -> dict[str, float]:
    both = champ[["account_id", "as_of_date", "churned", "risk"]].merge(
        chall[["account_id", "as_of_date", "risk"]], on=["account_id", "as_of_date"], suffixes=("_a", "_b")
    )
    return compare_auc(
        both["churned"].to_numpy(bool),
        both["risk_a"].to_numpy(float),
        both["risk_b"].to_numpy(float),
        both["account_id"].to_numpy(),
        n_boot=n_boot,
        seed=seed,
    )


def run_backtest(
    con: duckdb.DuckDBPyConnection,
    scorecard: Path | str,
    *,
    features_table: str = "fct_account_features_daily",
    outcomes_table: str = "fct_account_outcomes",
    start: dt.date | None = None,
    end: dt.date | None = None,
    horizon: str | int = "90d",
    every: str | int = "7d",
    challenger: Path | str | None = None,
    suggest: bool = False,
    suggest_out: Path | None = None,
    leakage_check: Callable[[duckdb.DuckDBPyConnection, list[dt.date], list[str]], object] | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    write_tables: bool = True,
    label: str = "auto",
    log: Callable[[str], None] = lambda _m: None,
) -> BacktestResult:
    started = time.perf_counter()
    started_at = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    timings: dict[str, float] = {}
    horizon_days, every_days = parse_days(horizon), parse_days(every)
    features_table = find_relation(con, features_table)
    outcomes_table = find_relation(con, outcomes_table)
    card = load_scorecard_for(con, scorecard, features_table)
    for note in card.notes:
        log(f"{card.name} {card.version}: {note}")
    concurrent = label == "snapshot"
    if not concurrent:
        try:
            dates = sample_dates(
                con, features_table, start=start, end=end, every_days=every_days, horizon_days=horizon_days
            )
        except ValueError as exc:
            if label == "history":
                raise
            log(f"{exc}: scoring the data's own date against its churn flag (snapshot)")
            concurrent = True
    if concurrent:
        dates = [end or con.execute(f"select max(as_of_date) from {features_table}").fetchone()[0]]
        horizon_days = 0
        label_words = (
            f"churn flag on {dates[0]}: agreement with a concurrent churn flag, NOT a prediction of churn"
        )
        if suggest:
            raise ValueError(
                "--suggest needs a history to split by time; on a snapshot use `healthscore scorecard learn` "
                "(it holds out accounts by a stable hash)"
            )
    else:
        label_words = f"churn within {horizon_days} days after each as_of date"
    log(
        f"backtest {card.name} {card.version}: {len(dates)} as_of dates {dates[0]}..{dates[-1]}, "
        f"label: {label_words}"
    )
    run_id = uuid.uuid4().hex[:12]

    leakage = None
    if leakage_check is not None:
        t0 = time.perf_counter()
        used = sorted({f.feature for f in card.factors})
        log(
            "leakage guard: rebuilding the features of sampled dates from the data known then (dbt; about a minute) ..."
        )
        leakage = leakage_check(con, dates, used)
        timings["leakage guard"] = time.perf_counter() - t0
        log(f"leakage guard: {leakage}")

    t0 = time.perf_counter()
    log(f"scoring {len(dates)} as_of dates with {card.name} {card.version} and labelling churn ...")
    history = score_history(con, card, features_table=features_table, dates=dates)
    labelled = label_history(
        con, history.scores, outcomes_table=outcomes_table, horizon_days=horizon_days, concurrent=concurrent
    )
    timings["score history"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    metrics = evaluate(labelled)
    bands, monotone = band_table(labelled, card)
    calibration = calibration_check(labelled, card)
    if calibration:
        metrics.update(calibration["metrics"])
    result = BacktestResult(
        run_id=run_id,
        card=card,
        dates=dates,
        horizon_days=horizon_days,
        labelled=labelled,
        history=history,
        metrics=metrics,
        bands=bands,
        monotone=monotone,
        segments=group_table(labelled, "segment"),
        industries=group_table(labelled, "industry"),
        over_time=_over_time(labelled),
        deciles=lift_by_decile(labelled),
        drift=drift_table(history),
        leakage=leakage,
        timings=timings,
        label_words=label_words,
        calibration=calibration,
    )
    timings["metrics"] = time.perf_counter() - t0
    log(
        f"ROC AUC {metrics['roc_auc']:.3f} | PR AUC {metrics['pr_auc']:.3f} (base rate {metrics['base_rate']:.3f}) "
        f"| top decile: precision {metrics['top_decile_precision']:.3f}, recall "
        f"{metrics['top_decile_recall']:.3f}, lift {metrics['top_decile_lift']:.2f}"
    )

    if challenger is not None:
        t0 = time.perf_counter()
        log(f"challenger {challenger}: scoring the same dates and bootstrapping the AUC difference ...")
        ch_card = load_scorecard_for(con, challenger, features_table)
        ch_hist = score_history(con, ch_card, features_table=features_table, dates=dates)
        ch_lab = label_history(
            con,
            ch_hist.scores,
            outcomes_table=outcomes_table,
            horizon_days=horizon_days,
            concurrent=concurrent,
        )
        cmp = _compare(labelled, ch_lab, n_boot, seed)
        result.challenger, result.challenger_labelled = ch_card, ch_lab
        result.comparisons.append(
            {
                "champion": f"{card.name} {card.version}",
                "challenger": f"{ch_card.name} {ch_card.version}",
                "period": "all",
                **cmp,
            }
        )
        timings["challenger"] = time.perf_counter() - t0
        log(
            f"challenger {ch_card.version}: AUC diff {cmp['auc_diff']:+.4f} "
            f"[{cmp['ci_low']:+.4f}, {cmp['ci_high']:+.4f}] - {verdict(cmp)}"
        )

    if suggest:
        t0 = time.perf_counter()
        log("suggesting weights: fitting on the earlier dates, testing on the later ones ...")
        sug = suggest_weights(
            history, labelled, card, Path(scorecard).read_text(), horizon_days=horizon_days, seed=seed
        )
        result.suggestion = sug
        if suggest_out is not None:
            suggest_out.parent.mkdir(parents=True, exist_ok=True)
            suggest_out.write_text(sug.card_text)
            result.suggestion_path = suggest_out
        sug_hist = score_history(con, sug.card, features_table=features_table, dates=sug.test_dates)
        sug_lab = label_history(
            con, sug_hist.scores, outcomes_table=outcomes_table, horizon_days=horizon_days
        )
        champ_test = labelled[labelled["as_of_date"].isin(sug.test_dates)]
        champ_train = labelled[labelled["as_of_date"].isin(sug.train_dates)]
        cmp = _compare(champ_test, sug_lab, n_boot, seed)
        result.comparisons.append(
            {
                "champion": f"{card.name} {card.version}",
                "challenger": f"suggested {sug.card.version}",
                "period": "out_of_time",
                **cmp,
            }
        )
        result.oot = {
            "champion_test": evaluate(champ_test),
            "champion_train": evaluate(champ_train),
            "suggested_test": evaluate(sug_lab),
        }
        result.oot["models"] = {
            "logistic_regression_test_auc": sug.model_auc_test,
            "gbm_ceiling_test_auc": sug.gbm_auc_test,
            "gap_champion_to_gbm": sug.gbm_auc_test - result.oot["champion_test"]["roc_auc"],
            "gap_suggested_to_gbm": sug.gbm_auc_test - result.oot["suggested_test"]["roc_auc"],
        }
        timings["suggest"] = time.perf_counter() - t0
        log(
            f"suggested weights out of time: AUC {cmp['auc_challenger']:.3f} vs champion {cmp['auc_champion']:.3f} "
            f"(diff {cmp['auc_diff']:+.4f} [{cmp['ci_low']:+.4f}, {cmp['ci_high']:+.4f}]); GBM ceiling "
            f"{sug.gbm_auc_test:.3f}"
        )

    timings["total"] = time.perf_counter() - started
    if write_tables:
        write_backtest_tables(
            con, result, features_table=features_table, every_days=every_days, started_at=started_at
        )
    return result


def write_backtest_tables(
    con: duckdb.DuckDBPyConnection,
    r: BacktestResult,
    *,
    features_table: str,
    every_days: int,
    started_at: dt.datetime,
) -> None:
    """Append this run to the BI tables of schema `backtest`, in one transaction."""
    con.execute("create schema if not exists backtest")
    for name, ddl in TABLES_DDL.items():
        con.execute(f"create table if not exists backtest.{name} ({ddl})")
    label = f"{r.card.name} {r.card.version}"
    leak_ok = getattr(r.leakage, "passed", None)
    frames: dict[str, pd.DataFrame] = {}
    frames["backtest_runs"] = pd.DataFrame(
        [
            {
                "run_id": r.run_id,
                "started_at": started_at,
                "scorecard_name": r.card.name,
                "scorecard_version": r.card.version,
                "scorecard_hash": r.card.content_hash,
                "features_table": features_table,
                "as_of_from": r.dates[0],
                "as_of_to": r.dates[-1],
                "every_days": every_days,
                "horizon_days": r.horizon_days,
                "as_of_dates": len(r.dates),
                "rows": len(r.labelled),
                "leakage_passed": leak_ok,
                "leakage_detail": str(r.leakage) if r.leakage is not None else None,
                "seconds": r.timings.get("total"),
            }
        ]
    )
    metric_rows = [(label, "all", k, v) for k, v in r.metrics.items()]
    for period, m in r.oot.items():
        name = (
            f"suggested {r.suggestion.card.version}"
            if period.startswith("suggested")
            else ("models" if period == "models" else label)
        )
        metric_rows += [(name, period, k, v) for k, v in m.items()]
    frames["backtest_metrics"] = pd.DataFrame(
        [
            {"run_id": r.run_id, "scorecard": s, "period": p, "metric": k, "value": float(v)}
            for s, p, k, v in metric_rows
        ]
    )
    frames["backtest_bands"] = r.bands.assign(run_id=r.run_id, scorecard=label, monotone=r.monotone)
    seg = pd.concat(
        [
            r.segments.rename(columns={"segment": "value"}).assign(dimension="segment"),
            r.industries.rename(columns={"industry": "value"}).assign(dimension="industry"),
        ]
    )
    frames["backtest_segments"] = seg.assign(run_id=r.run_id, scorecard=label, value=seg["value"].astype(str))
    frames["backtest_over_time"] = r.over_time.assign(run_id=r.run_id, scorecard=label)
    frames["scorecard_comparisons"] = pd.DataFrame(
        [{**c, "run_id": r.run_id, "verdict": verdict(c)} for c in r.comparisons] or [{"run_id": r.run_id}]
    ).iloc[: len(r.comparisons)]
    frames["drift"] = r.drift.assign(run_id=r.run_id, scorecard=label)
    con.execute("begin transaction")
    try:
        for name, df in frames.items():
            if len(df) == 0:
                continue
            cols = [c.split()[0] for c in TABLES_DDL[name].replace("\n", " ").split(",")]
            df = df.reindex(columns=cols)
            con.register("_bt_frame", df)
            con.execute(f"insert into backtest.{name} by name select * from _bt_frame")
            con.unregister("_bt_frame")
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
