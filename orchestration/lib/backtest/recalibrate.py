"""Recalibrate a scorecard without relearning it: grade bands and churn probability from outcomes.

    python -m orchestration.lib.backtest.recalibrate --scorecard scorecards/default.yml

Same rows and split as `healthscore scorecard learn` (churn within the horizon after each sampled
date, split by time with a horizon's gap). The card's own scores on the training rows give the
bands (`propose_bands`: red = the lowest scores at 3x the base churn rate or the best lift there is)
and a Platt calibration (`fit_calibration`); both are then measured on the held-out rows: ROC AUC,
PR AUC, top-decile lift and Brier with bootstrap CIs over accounts, churn by band, reliability.
It prints the figures and the YAML to paste (`bands`, `calibration`): the factors, thresholds and
weights a reviewer owns stay as they are (docs/backtesting.md, "Recalibrating the default
scorecard"). Nothing is written to the warehouse.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import duckdb
import numpy as np

from orchestration.lib.backtest.calibration import (
    band_rates,
    brier,
    fit_calibration,
    metrics_with_ci,
    propose_bands,
    reliability,
)
from orchestration.lib.backtest.history import OBJECTIVE, find_relation, label_history, score_history
from orchestration.lib.backtest.learn import labelled_rows, split_rows
from orchestration.lib.scoring.scorecard import load_scorecard_for


def recalibrate(
    con: duckdb.DuckDBPyConnection,
    scorecard: str,
    *,
    horizon_days: int = 90,
    every_days: int = 7,
    n_boot: int = 500,
    seed: int = 0,
    say: Callable[[str], None] = print,
) -> dict:
    features = find_relation(con, "fct_account_features_daily")
    outcomes = find_relation(con, "fct_account_outcomes")
    card = load_scorecard_for(con, scorecard, features)
    rows = labelled_rows(
        con,
        features_table=features,
        outcomes_table=outcomes,
        horizon_days=horizon_days,
        every_days=every_days,
    )
    if rows.mode != "history":
        raise ValueError(
            "recalibrate needs a history (dates with a horizon of outcomes after them), not a snapshot"
        )
    side, words = split_rows(rows, 0.25)
    dates = rows.frame["as_of_date"].to_numpy()

    def scored(part: int):
        ds = sorted(set(dates[side == part]))
        h = score_history(con, card, features_table=features, dates=ds)
        out = label_history(con, h.scores, outcomes_table=outcomes, horizon_days=horizon_days)
        return (
            out["computed_score"].to_numpy(float),
            out["churned"].to_numpy(bool),
            out["account_id"].to_numpy(),
        )

    s_tr, y_tr, _ = scored(0)
    s_te, y_te, acc_te = scored(1)
    bands, notes = propose_bands(s_tr, y_tr)
    intercept, slope = fit_calibration(s_tr, y_tr)
    prob = 1 / (1 + np.exp(-(intercept + slope * s_te)))
    held_out = metrics_with_ci(100 - s_te, prob, y_te, acc_te, n_boot=n_boot, seed=seed)
    base = float(y_te.mean())
    say(f"{card.name} {card.version}: split {words}")
    say(
        f"training rows {len(y_tr):,} ({int(y_tr.sum())} churned), held out {len(y_te):,} ({int(y_te.sum())})"
    )
    for n in notes:
        say(f"bands: {n}")
    say("held out: " + " | ".join(f"{k} {v[0]:.4f} [{v[1]:.4f}, {v[2]:.4f}]" for k, v in held_out.items()))
    say(f"held out: base rate {base:.4f}, its Brier {brier(np.full(len(y_te), base), y_te):.4f}")
    say("proposed bands on the held-out rows:\n" + band_rates(s_te, y_te, bands).to_string(index=False))
    say("reliability (held out):\n" + reliability(prob, y_te).to_string(index=False))
    say("bands:\n" + "\n".join(f"  - {{grade: {g}, min: {lo:g}, max: {hi:g}}}" for g, lo, hi in bands))
    say(
        f"calibration:\n  objective: {OBJECTIVE}\n  method: logistic\n  intercept: {intercept:.6f}\n"
        f"  slope: {slope:.6f}\n  horizon_days: {horizon_days}\n"
        f'  fitted_on: "computed scores of {len(y_tr):,} training rows ({rows.label_words}); '
        f'base rate {y_tr.mean():.4f}"'
    )
    return {
        "bands": bands,
        "intercept": intercept,
        "slope": slope,
        "held_out": held_out,
        "scores": (s_tr, y_tr, s_te, y_te),
    }


def main(argv: list[str] | None = None) -> int:
    from orchestration.lib.settings import Settings

    p = argparse.ArgumentParser(prog="python -m orchestration.lib.backtest.recalibrate", description=__doc__)
    p.add_argument("--scorecard", default="scorecards/default.yml")
    p.add_argument("--horizon-days", type=int, default=90)
    p.add_argument("--every-days", type=int, default=7)
    args = p.parse_args(argv)
    with duckdb.connect(str(Settings.from_env().warehouse_path)) as con:  # scoring uses temp tables
        recalibrate(con, args.scorecard, horizon_days=args.horizon_days, every_days=args.every_days)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
