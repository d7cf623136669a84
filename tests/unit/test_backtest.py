"""Backtest library on small synthetic DuckDB tables: metrics, bootstrap CI, PSI, leakage guard."""

from __future__ import annotations

import datetime as dt

import duckdb
import numpy as np
import pandas as pd
import pytest

from orchestration.lib.backtest.history import label_history
from orchestration.lib.backtest.leakage import check_point_in_time, sql_recompute
from orchestration.lib.backtest.metrics import PSI_WARN, auc_weighted, compare_auc, evaluate, psi, verdict
from orchestration.lib.backtest.weights import _round_to_total, time_split


# ------------------------------------------------------------------ metrics
def test_auc_matches_sklearn_with_ties_and_weights():
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(1)
    risk = rng.integers(0, 20, 400).astype(float)  # many ties
    y = rng.random(400) < 0.2 + risk / 40
    w = rng.integers(1, 4, 400).astype(float)
    assert auc_weighted(risk, y) == pytest.approx(roc_auc_score(y, risk))
    assert auc_weighted(risk, y, w) == pytest.approx(roc_auc_score(y, risk, sample_weight=w))


def test_evaluate_top_decile_and_labels():
    con = duckdb.connect()
    d = dt.date(2026, 1, 1)
    scores = pd.DataFrame(
        {
            "account_id": [f"A{i:02d}" for i in range(20)],
            "as_of_date": [d] * 20,
            "segment": ["SMB"] * 20,
            "industry": ["x"] * 20,
            "computed_score": [float(i * 5) for i in range(20)],
            "banded_grade": ["red"] * 8 + ["yellow"] * 6 + ["green"] * 6,
            "confidence": [1.0] * 20,
            "is_churned": [False] * 19 + [True],
        }
    )
    con.execute("create table outcomes (account_id varchar, outcome_type varchar, outcome_date date)")
    con.execute("""insert into outcomes values ('A00', 'churn', date '2026-02-01'), ('A01', 'churn', date '2026-06-01'),
                   ('A02', 'renewal', date '2026-01-15'), ('A03', 'churn', date '2026-01-01')""")
    lab = label_history(con, scores, outcomes_table="outcomes", horizon_days=90)
    assert len(lab) == 19  # A19 already churned on the date: excluded
    churned = set(lab.loc[lab["churned"], "account_id"])
    assert churned == {
        "A00"
    }  # A01 after the horizon, A02 not a churn, A03 churned on the date itself (not after)
    m = evaluate(lab)
    assert m["roc_auc"] == pytest.approx(1.0)
    assert m["top_decile_recall"] == 1.0 and m["top_decile_lift"] == pytest.approx((1 / 2) / (1 / 19))


# ------------------------------------------------------------------ champion vs challenger
def _synthetic(n_acc=300, n_dates=6, seed=0):
    rng = np.random.default_rng(seed)
    acc = np.repeat(np.arange(n_acc), n_dates)
    y = np.repeat(rng.random(n_acc) < 0.15, n_dates)
    strong = y * 2.0 + rng.normal(0, 1, len(y))
    return acc, y, strong, rng


def test_identical_scorecards_give_zero_difference_and_ci_containing_zero():
    acc, y, strong, _ = _synthetic()
    cmp = compare_auc(y, strong, strong.copy(), acc, n_boot=300)
    assert cmp["auc_diff"] == 0.0
    assert cmp["ci_low"] <= 0.0 <= cmp["ci_high"]
    assert verdict(cmp).startswith("no significant")


def test_champion_plus_noise_challenger_is_significantly_worse():
    acc, y, strong, rng = _synthetic()
    noisy = strong + rng.normal(0, 3, len(strong))
    cmp = compare_auc(y, strong, noisy, acc, n_boot=500)
    assert cmp["auc_champion"] > 0.85 and cmp["auc_challenger"] < cmp["auc_champion"]
    assert cmp["ci_high"] < 0, cmp
    # And the other way round: the stronger model as challenger is better.
    assert compare_auc(y, noisy, strong, acc, n_boot=500)["ci_low"] > 0


def test_bootstrap_resamples_accounts_not_rows():
    """Rows of one account are copies: an account-level bootstrap must be as wide as with one row
    per account, a row-level one would be much narrower."""
    acc, y, strong, rng = _synthetic(n_acc=200, n_dates=1, seed=3)
    noisy = strong + rng.normal(0, 1.5, len(strong))
    one = compare_auc(y, strong, noisy, acc, n_boot=800, seed=1)
    rep = 10
    many = compare_auc(
        np.repeat(y, rep),
        np.repeat(strong, rep),
        np.repeat(noisy, rep),
        np.repeat(acc, rep),
        n_boot=800,
        seed=1,
    )
    width_one, width_many = one["ci_high"] - one["ci_low"], many["ci_high"] - many["ci_low"]
    assert width_many == pytest.approx(width_one, rel=0.25)


# ------------------------------------------------------------------ drift
def test_psi_zero_for_same_distribution_and_large_for_a_shift():
    rng = np.random.default_rng(0)
    a = rng.uniform(0, 100, 5000)
    assert psi(a, rng.uniform(0, 100, 5000)) < 0.02
    assert psi(a, np.clip(rng.normal(85, 5, 5000), 0, 100)) > PSI_WARN
    assert psi(a, np.where(rng.random(5000) < 0.5, np.nan, a)) > PSI_WARN  # missing data counts


def test_time_split_leaves_a_horizon_gap():
    dates = [dt.date(2026, 1, 1) + dt.timedelta(days=7 * i) for i in range(30)]
    train, test = time_split(dates, 90)
    assert (min(test) - max(train)).days >= 90
    assert _round_to_total({"a": 33.3, "b": 33.3, "c": 33.4}, 100) == {"a": 33, "b": 33, "c": 34}


# ------------------------------------------------------------------ leakage guard
FEATURES_SQL = """
    select a.account_id, d.as_of_date,
        (select count(*) from {events} as e where e.account_id = a.account_id
            and e.known_at < d.as_of_date + interval 1 day) as events_to_date,
        {extra} as leaky
    from {accounts} as a cross join (select distinct cast(known_at as date) as as_of_date from {events}) as d
"""
CLEAN = "0"
# The planted leak: "days until the account's next churn", read from outcomes dated after as_of.
LEAKY = """(select min(o.outcome_date) - d.as_of_date from {outcomes} as o
            where o.account_id = a.account_id and o.outcome_date > d.as_of_date)"""


@pytest.fixture
def inputs():
    con = duckdb.connect()
    con.execute(
        "create table accounts as select 'A' || i as account_id, timestamp '2025-01-01' as known_at from range(5) t(i)"
    )
    con.execute("""create table events as select 'A' || (i % 5) as account_id,
                   timestamp '2026-01-01' + to_days(cast(i % 40 as integer)) as known_at from range(200) t(i)""")
    con.execute("""create table outcomes as select 'A' || i as account_id, 'churn' as outcome_type,
                   date '2026-01-20' + cast(i * 5 as integer) as outcome_date,
                   timestamp '2026-01-20' + to_days(cast(i * 5 as integer)) as known_at from range(3) t(i)""")
    return con


def _guard(con, extra):
    sql = FEATURES_SQL.replace("{extra}", extra)
    con.execute(
        f"create or replace view features as {sql.format(events='events', accounts='accounts', outcomes='outcomes')}"
    )
    rebuild = sql_recompute({"events": "events", "accounts": "accounts", "outcomes": "outcomes"}, sql)
    dates = [dt.date(2026, 1, 10), dt.date(2026, 1, 25)]
    return check_point_in_time(con, "features", rebuild, dates, ["events_to_date", "leaky"])


def test_leakage_guard_passes_point_in_time_features(inputs):
    result = _guard(inputs, CLEAN)
    assert result.passed, str(result)
    assert result.rows_compared == 10


def test_leakage_guard_catches_a_feature_built_from_future_outcomes(inputs):
    result = _guard(inputs, LEAKY)
    assert not result.passed
    assert {p["column"] for p in result.problems} == {"leaky"}
    assert "FAILED" in str(result) and "leaky" in str(result)
