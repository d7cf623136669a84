"""`scorecard learn` on a planted snapshot: the learned YAML validates, the warehouse scores it
exactly as the model ranks (the round trip), planted effects and the interaction are found,
absent and constant features are dropped with a note, the calibration is honest, and a snapshot
backtests at its own date."""

from __future__ import annotations

import datetime as dt

import duckdb
import numpy as np
import pandas as pd
import pytest

from orchestration.lib.backtest.calibration import propose_bands
from orchestration.lib.backtest.learn import learn_scorecard
from orchestration.lib.backtest.learn_model import LearnOptions
from orchestration.lib.backtest.run import run_backtest
from orchestration.lib.ingest.loader import ensure_raw_schema
from orchestration.lib.scoring.scorecard import parse_scorecard

DAY = dt.date(2026, 3, 31)

BASE_CARD = """
name: base
version: "1.0"
owner: tests
description: a hand-written card with one thresholds factor
groups: {usage: Usage, money: Money}
objectives:
  retention_risk:
    label: Retention
    description: r
    group_weights: {usage: 50, money: 50}
  expansion_potential:
    label: Expansion
    description: e
    group_weights: {usage: 100, money: 0}
bands:
  - {grade: red, min: 0, max: 40}
  - {grade: yellow, min: 40, max: 70}
  - {grade: green, min: 70, max: 100}
factors:
  - name: usage
    label: Usage
    feature: usage_minutes
    group: usage
    owner: product
    direction: higher_is_better
    normalisation: {method: thresholds, low: 0, high: 300}
    explain: {unit: number, low: "{value} minutes", high: "{value} minutes"}
  - name: tickets
    label: Tickets
    feature: tickets_30d
    group: usage
    owner: support
    direction: lower_is_better
    normalisation: {method: thresholds, low: 0, high: 5}
    explain: {unit: count, low: "{value} tickets", high: "{value} tickets"}
"""


def _planted(n: int = 1200, seed: int = 7) -> pd.DataFrame:
    """One row per customer on one date. Churn: many service calls (a step at 4), month-to-month
    contracts, no autopay, and heavy usage ONLY on the basic plan (the interaction)."""
    rng = np.random.default_rng(seed)
    plan = rng.choice(["Basic", "Pro"], n, p=[0.6, 0.4])
    contract = rng.choice(["Month-to-month", "One year", "Two year"], n, p=[0.5, 0.3, 0.2])
    calls = rng.poisson(1.6, n).astype(float)
    usage = rng.normal(180, 50, n).clip(0)
    # Usage unknown for some customers: a risk on the basic plan only (its bins per plan then
    # each have their own missing bin, the case the warehouse once scored with the default's).
    usage[rng.random(n) < 0.12] = np.nan
    autopay = rng.random(n) < 0.5
    logit = (
        -2.6
        + 2.2 * (calls >= 4)
        + np.select([contract == "Month-to-month", contract == "One year"], [1.3, 0.0], -1.2)
        + 0.8 * ~autopay
        + np.where(plan == "Basic", 2.2 * (usage > 230) + 1.8 * np.isnan(usage), -0.8 * np.isnan(usage))
    )
    churned = rng.random(n) < 1 / (1 + np.exp(-logit))
    return pd.DataFrame(
        {
            "account_id": [f"C{i:05d}" for i in range(n)],
            "as_of_date": DAY,
            "segment": "SMB",
            "industry": "Telecom",
            "owner": "o",
            "parent_account_id": None,
            "attr_plan": plan,
            "attr_contract": contract,
            "attr_autopay": autopay,
            "metric_service_calls__latest": calls,
            "usage_minutes": usage.round(1),
            "tickets_30d": np.nan,  # an absent source: every value missing
            "seats": 5.0,  # constant
            "is_churned": churned,
            "churned_on": [DAY if c else None for c in churned],
            "mrr": 50.0,
            "days_since_last_signal": 1,
        }
    )


@pytest.fixture(scope="module")
def learned(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("learn")
    con = duckdb.connect(str(tmp / "w.duckdb"))
    ensure_raw_schema(con)
    con.execute("create schema marts")
    frame = _planted()
    con.register("_f", frame)
    con.execute(
        "create table marts.fct_account_features_daily as select * exclude (tickets_30d), "
        "cast(tickets_30d as double) as tickets_30d from _f"
    )
    con.unregister("_f")
    con.execute(
        """create table marts.fct_account_outcomes as select account_id, 'churn' as outcome_type,
        churned_on as outcome_date from marts.fct_account_features_daily where is_churned"""
    )
    base = tmp / "base.yml"
    base.write_text(BASE_CARD)
    out = tmp / "learned.yml"
    result = learn_scorecard(
        con,
        base,
        options=LearnOptions(max_factors=8, seed=0),
        n_boot=50,
        out=out,
    )
    yield con, result, out, base
    con.close()


def test_a_snapshot_is_learned_against_its_concurrent_churn_flag(learned):
    _con, r, _out, _base = learned
    assert r.rows.mode == "snapshot"
    assert "concurrent churn flag, not a prediction" in r.rows.label_words
    assert r.card.calibration.horizon_days == 0
    # A stable hash of the account splits it: about a quarter held out.
    assert 0.2 < r.test_rows / (r.test_rows + r.train_rows) < 0.3


def test_absent_and_constant_features_are_dropped_with_a_note_not_a_crash(learned):
    notes = "\n".join(learned[1].notes)
    assert "tickets_30d: no value in the training rows" in notes
    assert "seats: constant" in notes


def test_learned_yaml_round_trips_through_the_warehouse(learned):
    _con, r, out, _base = learned
    card = parse_scorecard(out.read_text())
    assert card.version.startswith("1.0-learned.")
    # The warehouse's SQL scores the YAML exactly as the model's log-odds rank the rows.
    assert r.round_trip_max_diff < 0.05
    auc = r.comparison.set_index(["model", "metric"])["value"]
    assert auc[("learned scorecard", "roc_auc")] > 0.75
    # The other objective still works off the base card's factors.
    assert card.objectives["expansion_potential"].group_weights["usage"] == 100


def test_planted_factors_and_the_interaction_are_found(learned):
    r = learned[1]
    used = {t.name: t for t in r.model.terms}
    assert {"metric_service_calls__latest", "attr_contract", "attr_autopay", "usage_minutes"} <= set(used)
    assert used["usage_minutes"].conditioner is not None
    assert used["usage_minutes"].conditioner.name == "attr_plan"
    card = r.card
    kinds = {f.feature: f.normalisation.method for f in card.factors}
    assert kinds["attr_contract"] == "categories"
    assert kinds["attr_autopay"] == "boolean"
    assert kinds["metric_service_calls__latest"] == "bins"
    contract = next(f for f in card.factors if f.feature == "attr_contract").normalisation
    assert contract.scores["Month-to-month"] < contract.scores["Two year"]
    assert contract.other is not None and contract.missing is not None
    assert any(c.feature == "attr_plan" for o in card.overrides for c in o.conditions)


def test_the_learned_card_beats_the_hand_written_one_and_the_reference_is_fitted(learned):
    r = learned[1]
    m = r.comparison.set_index(["model", "metric"])["value"]
    learned_auc = m[("learned scorecard", "roc_auc")]
    reference_auc = m[("gradient boosting reference", "roc_auc")]
    assert learned_auc > m[("current scorecard (base 1.0)", "roc_auc")] + 0.1
    # A properly fitted reference is in the same league on additive data, not far below.
    assert reference_auc > 0.7
    # The calibrated probability beats the base rate on Brier.
    assert m[("learned scorecard", "brier")] < m[("base rate (no model)", "brier")]


def test_a_snapshot_backtests_at_its_own_date(learned):
    con, _r, out, _base = learned
    res = run_backtest(con, out, n_boot=50, write_tables=False)
    assert res.dates == [DAY]
    assert res.horizon_days == 0
    assert "NOT a prediction" in res.label_words
    assert res.metrics["roc_auc"] > 0.75
    assert res.calibration["metrics"]["brier"] < res.calibration["metrics"]["brier_base_rate"]
    assert set(res.calibration["reliability"].columns) >= {"mean_predicted", "observed_rate"}


def test_band_proposal_finds_a_red_band_three_times_the_base_rate():
    rng = np.random.default_rng(1)
    score = rng.uniform(0, 100, 5000)
    y = rng.random(5000) < np.where(score < 20, 0.4, 0.05)
    bands, _notes = propose_bands(score, y)
    red = bands[0]
    assert red[0] == "red" and 15 <= red[2] <= 25
    inside = score < red[2]
    assert y[inside].mean() >= 3 * y.mean()


def _check_bands(bands, score, y, min_width=5):
    n_min = max(10, int(0.02 * len(y)))
    for grade, lo, hi in bands:
        inside = (score >= lo) & ((score < hi) | (hi == 100))
        assert hi - lo >= min_width, f"{grade} band {lo}-{hi} is a sliver"
        assert inside.sum() >= n_min, f"{grade} band {lo}-{hi} holds {inside.sum()} rows"
    assert [b[0] for b in bands] == ["red", "yellow", "green"]
    assert bands[0][1] == 0 and bands[-1][2] == 100
    assert all(a[2] == b[1] for a, b in zip(bands, bands[1:], strict=False))


def test_band_proposal_leaves_no_sliver_of_a_yellow_band():
    """Two populations (a risky tenth and a healthy rest, the learned telecom card's shape): the
    widest red band at 3x the base rate ends inside the healthy scores, and the widest green band
    started two points above it, a yellow band nobody could act on."""
    rng = np.random.default_rng(3)
    score = np.concatenate([rng.uniform(0, 60, 400), rng.uniform(60, 100, 3600)])
    y = rng.random(4000) < np.where(score < 60, 0.6, 0.02)
    bands, notes = propose_bands(score, y)
    _check_bands(bands, score, y)
    (_, _, red), (_, _, green) = bands[0], bands[1]
    base = y.mean()
    assert y[score < red].mean() >= 3 * base
    assert y[score >= green].mean() <= 0.5 * base
    assert y[(score >= red) & (score < green)].mean() >= y[score >= green].mean()
    assert notes == []


def test_band_proposal_without_signal_still_gives_readable_bands_and_says_so():
    rng = np.random.default_rng(4)
    score = rng.uniform(0, 100, 5000)
    y = rng.random(5000) < 0.05
    bands, notes = propose_bands(score, y)
    _check_bands(bands, score, y)
    assert any("reaches 3x the base churn rate" in n for n in notes)
    assert any("no top band" in n for n in notes)


def test_band_table_leaves_insufficient_data_out_of_the_bands():
    from orchestration.lib.backtest.metrics import band_table

    card = parse_scorecard(BASE_CARD)
    df = pd.DataFrame(
        {
            "banded_grade": ["red", "red", "green", "green"],
            "confidence": [0.9, 0.1, 0.9, 0.2],
            "churned": [True, True, False, True],
        }
    )
    table, _ = band_table(df, card)
    rows = table.set_index("grade")["rows"].to_dict()
    assert rows["red"] == 1 and rows["green"] == 1 and rows["insufficient_data"] == 2


def test_every_bin_of_a_learned_model_scores_the_same_in_the_warehouse(tmp_path):
    """The round trip bin by bin, on a hand-built model (no fit: every bin has its own points).
    Covers what broke on RavenStack (a factor's bins per level of a condition, with a missing
    value among the accounts of the non-default level: the SQL scored them with the factor's
    default `missing`, 8.4 points off the model) and the other places where Python and SQL could
    read a value differently: a value exactly on an edge, categories in other cases and spaces,
    an unseen category, booleans as text, missing values everywhere, a NULL condition, and a base
    card whose overrides reweight the relearned objective (they would bend the learned weights)."""
    from orchestration.lib.backtest.history import score_history
    from orchestration.lib.backtest.learn_card import build_card, score_from_logit
    from orchestration.lib.backtest.learn_model import (
        BOOLEAN,
        CATEGORICAL,
        NUMERIC,
        Binning,
        Candidate,
        LearnedModel,
        Term,
    )

    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    ensure_raw_schema(con)
    con.execute("create schema marts")
    usage = [None, 5.0, 10.0, 15.0, 19.99, 20.0, 35.0]
    plans = ["Basic", "Pro", "pro ", None, "Enterprise"]  # Enterprise: not a level, default bins
    # Bronze: never seen, `other`; a tab is not a space to the SQL's trim: `other` too.
    tiers = ["Gold", " gold", "SILVER", "Bronze", "\tGold", None]
    flags = ["yes", "N", "true", "0", "maybe", None]  # maybe: not a boolean, missing
    rows = [
        (f"A{i:04d}", u, p, t, f)
        for i, (u, p, t, f) in enumerate(
            (u, p, t, f) for u in usage for p in plans for t in tiers for f in flags
        )
    ]
    con.execute(
        """create table marts.fct_account_features_daily (account_id varchar, usage_minutes double,
        attr_plan varchar, attr_tier varchar, attr_flag varchar)"""
    )
    con.executemany("insert into marts.fct_account_features_daily values (?, ?, ?, ?, ?)", rows)
    con.execute(
        f"""create or replace table marts.fct_account_features_daily as select *,
        date '{DAY}' as as_of_date, 'SMB' as segment, 'x' as industry, 'o' as owner,
        cast(null as varchar) as parent_account_id, false as is_churned, cast(null as date) as churned_on,
        50.0 as mrr, 1 as days_since_last_signal, 1.0 as tickets_30d
        from marts.fct_account_features_daily"""
    )
    frame = con.execute("select * from marts.fct_account_features_daily").df()
    plan = Candidate("attr_plan", CATEGORICAL)
    terms = [
        Term(
            Candidate("usage_minutes", NUMERIC),
            Binning(NUMERIC, edges=[10.0, 20.0]),
            conditioner=plan,
            variants={"pro": Binning(NUMERIC, edges=[15.0])},
        ),
        Term(
            Candidate("attr_tier", CATEGORICAL),
            Binning(CATEGORICAL, levels=["gold", "silver"], labels={"gold": "Gold", "silver": "SILVER"}),
        ),
        Term(
            Candidate("attr_flag", BOOLEAN),
            Binning(BOOLEAN, levels=["false", "true"], labels={"false": "no", "true": "yes"}),
        ),
    ]
    # Distinct points for every bin: default bins (3 + missing), Pro bins (2 + missing), tier
    # levels + other + missing, flag false/true + other (never used) + missing.
    points = [
        np.array([0.3, -0.2, 0.9, 0.1, -0.7, 1.4, 0.6]),
        np.array([-0.5, 0.2, 0.7, 1.1]),
        np.array([0.4, -0.3, 0.0, 0.8]),
    ]
    model = LearnedModel(terms, -1.0, points, 1.0, 0.0, np.zeros(0), [], {})
    base_text = (
        BASE_CARD
        + """
segment_overrides:
  SMB:
    group_weights:
      retention_risk: {usage: 90, money: 10}
overrides:
  - name: enterprise plan
    when: {feature: attr_plan, in: [Enterprise]}
    group_weights:
      retention_risk: {usage: 10, money: 90}
"""
    )
    text, parts = build_card(
        base_text,
        model,
        bands=[("red", 0, 40), ("yellow", 40, 70), ("green", 70, 100)],
        calibration={"intercept": 0.0, "slope": 0.0, "horizon_days": 0},
        description="hand-built",
        version="1.0-learned",
        header="",
    )
    known = {r[0] for r in con.execute("select * from marts.fct_account_features_daily limit 0").description}
    card = parse_scorecard(text, known_features=known)
    h = score_history(con, card, features_table="marts.fct_account_features_daily", dates=[DAY])
    got = frame[["account_id"]].merge(h.scores, on="account_id", how="left")["computed_score"]
    expected = score_from_logit(model, parts, model.logit(frame))
    diff = np.abs(got.to_numpy(float) - expected)
    worst = frame.assign(sql=got, model=expected).iloc[np.argsort(-diff)[:5]]
    assert diff.max() < 0.02, worst.to_string()
    con.close()


def test_learned_numeric_bins_rise_or_fall_with_the_value(learned):
    """--shape monotone (the default): every numeric factor's points move one way across its
    bins (a reviewer reads "more service calls, fewer points"), never zigzag; the direction is
    the one the training rows show (service calls: more calls, more churn, fewer points)."""
    card = learned[1].card
    numeric = [f for f in card.factors if f.normalisation.method == "bins"]
    assert numeric
    shapes = [f.normalisation.scores for f in numeric]
    for o in card.overrides:
        shapes += [n.scores for n in o.normalisation.values() if n.method == "bins"]
    for scores in shapes:
        steps = np.diff(scores)
        assert (steps >= -1e-9).all() or (steps <= 1e-9).all(), scores
    calls = next(f for f in numeric if f.feature == "metric_service_calls__latest").normalisation
    assert calls.scores[0] > calls.scores[-1]


def test_free_shapes_remain_available():
    """--shape free: the fit is unconstrained (a U-shaped risk keeps its U)."""
    rng = np.random.default_rng(3)
    n = 3000
    x = rng.uniform(0, 10, n)
    churned = rng.random(n) < np.where((x < 2) | (x > 8), 0.4, 0.05)
    frame = pd.DataFrame({"account_id": [f"A{i}" for i in range(n)], "x": x})
    from orchestration.lib.backtest.learn_model import NUMERIC, Candidate, learn

    cands = [Candidate("x", NUMERIC)]
    accounts = frame["account_id"]
    free = learn(frame, churned, cands, accounts=accounts, opts=LearnOptions(monotone=False, max_bins=4))
    mono = learn(frame, churned, cands, accounts=accounts, opts=LearnOptions(max_bins=4))
    value_bins = lambda m: m.points[0][: len(m.terms[0].default.edges) + 1]  # noqa: E731
    assert np.ptp(value_bins(free)) > 1.0  # the U: low and high x churn, the middle does not
    p = value_bins(free)
    assert p[0] > p[1:-1].min() and p[-1] > p[1:-1].min()
    steps = np.diff(value_bins(mono))
    assert (steps >= -1e-9).all() or (steps <= 1e-9).all()
