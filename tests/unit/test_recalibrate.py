"""Recalibrating a card without relearning it (docs/backtesting.md, "Recalibrating the default
scorecard"): bands and churn probability come from the training dates' outcomes, the factors stay."""

from __future__ import annotations

import datetime as dt

import duckdb
import numpy as np
import pandas as pd

from orchestration.lib.backtest.recalibrate import recalibrate
from tests.unit.test_learn import BASE_CARD

START = dt.date(2025, 1, 6)


def _history(n: int = 300, days: int = 364, seed: int = 3) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Daily rows; a third of the accounts churn, and their usage falls in the 90 days before."""
    rng = np.random.default_rng(seed)
    churn_day = np.where(rng.random(n) < 0.33, rng.integers(120, days + 90, n), 10_000)
    account, day = np.repeat(np.arange(n), days), np.tile(np.arange(days), n)
    alive = day < churn_day[account]
    account, day = account[alive], day[alive]
    falling = churn_day[account] - day <= 90
    features = pd.DataFrame(
        {
            "account_id": [f"A{a:04d}" for a in account],
            "as_of_date": [START + dt.timedelta(days=int(d)) for d in day],
            "segment": "SMB",
            "industry": "Retail",
            "owner": "o",
            "parent_account_id": None,
            "usage_minutes": rng.normal(np.where(falling, 90.0, 200.0), 40.0),
            "tickets_30d": rng.poisson(1, len(day)).astype(float),
            "is_churned": False,
            "churned_on": None,
            "mrr": 50.0,
            "days_since_last_signal": 1,
        }
    )
    churners = np.flatnonzero(churn_day < 10_000)
    outcomes = pd.DataFrame(
        {
            "account_id": [f"A{a:04d}" for a in churners],
            "outcome_type": "churn",
            "outcome_date": [START + dt.timedelta(days=int(churn_day[a])) for a in churners],
        }
    )
    return features, outcomes


def test_bands_and_probability_come_from_the_training_dates_and_hold_out(tmp_path):
    features, outcomes = _history()
    card = tmp_path / "base.yml"
    card.write_text(BASE_CARD)
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        con.execute("create schema marts")
        con.register("_f", features)
        con.register("_o", outcomes)
        con.execute("create table marts.fct_account_features_daily as select * from _f")
        con.execute("create table marts.fct_account_outcomes as select * from _o")
        said: list[str] = []
        got = recalibrate(con, str(card), n_boot=20, say=said.append)
    (red, lo, red_max), (yellow, y_lo, y_hi), (green, g_lo, _) = got["bands"]
    assert (red, yellow, green) == ("red", "yellow", "green") and lo == 0 and red_max == y_lo and y_hi == g_lo
    # the planted usage fall: low scores churn, so red is above the card's hand-set 40 and the
    # probability falls as the score rises; the held-out dates confirm the ranking
    assert red_max > 40 and got["slope"] < 0
    assert got["held_out"]["roc_auc"][0] > 0.7
    s_tr, y_tr, s_te, y_te = got["scores"]
    assert len(s_tr) and len(s_te) and y_te.any()
    assert any(line.startswith("calibration:") for line in said)
