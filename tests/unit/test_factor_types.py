"""Factor types (bins, categories, boolean, percentile ties), overrides on any feature and
calibrated churn probability, run through the compiled SQL against hand-computed values."""

from __future__ import annotations

import datetime as dt
import math

import duckdb
import pytest

from orchestration.lib.ingest.loader import ensure_raw_schema
from orchestration.lib.scoring.scorecard import ScorecardError, parse_scorecard
from orchestration.lib.scoring.scores import score_and_publish

HEAD = """
name: types
version: "0.1"
owner: tests
description: one factor of each type
change_window_days: 1
groups: {usage: Usage, profile: Profile}
objectives:
  retention_risk:
    label: Retention
    description: r
    group_weights: {usage: 50, profile: 50}
bands:
  - {grade: red, min: 0, max: 40}
  - {grade: yellow, min: 40, max: 70}
  - {grade: green, min: 70, max: 100}
confidence: {min_for_grade: 0.0}
"""

FACTORS = """
factors:
  - name: calls
    label: Service calls
    feature: calls
    group: usage
    owner: support
    normalisation: {method: bins, edges: [2, 4], scores: [90, 30, 60]}
    explain: {unit: count, low: "{value} service calls ({bin})", high: "{value} service calls ({bin})"}
  - name: plan
    label: Plan
    feature: plan
    group: profile
    owner: sales
    normalisation:
      method: categories
      scores: {Basic: 20, Pro: 80}
      other: 50
      missing: 40
    explain: {unit: number, low: "On the {value} plan", high: "On the {value} plan ({bin})"}
  - name: autopay
    label: Autopay
    feature: autopay
    group: profile
    owner: finance
    normalisation: {method: boolean, if_true: 100, if_false: 0}
    explain: {unit: number, low: "Autopay: {bin}", high: "Autopay: {bin}"}
"""

DAY = dt.date(2026, 6, 30)

# account, calls, plan, autopay (text, as exports have it), is_churned, mrr
ROWS = [
    ("A", 1, "Basic", "yes", False, 100),  # calls 90 | plan 20, autopay 100 -> 60 | 75
    ("B", 2, " pro ", "No", False, 100),  # calls on an edge -> upper bin 30 | 80, 0 -> 40 | 35
    ("C", 4, "Enterprise", "1", False, 100),  # calls 60 | other 50, 100 -> 75 | 67.5
    ("D", 9, None, None, False, 100),  # calls 60 | plan missing 40, autopay missing: left out -> 50
    ("E", None, "basic", "false", True, 100),  # no calls: usage group dropped | 20, 0 -> 10
]


def _features(con, rows=ROWS):
    ensure_raw_schema(con)
    con.execute(
        """create or replace table features (account_id varchar, as_of_date date, segment varchar,
        industry varchar, owner varchar, parent_account_id varchar, calls double, plan varchar,
        autopay varchar, tenure double, is_churned boolean, churned_on date, mrr double,
        days_since_last_signal integer)"""
    )
    for acc, calls, plan, autopay, churned, mrr in rows:
        con.execute(
            "insert into features values (?, ?, 'SMB', 'Software', 'o', null, ?, ?, ?, 10, ?, ?, ?, 1)",
            [acc, DAY, calls, plan, autopay, churned, DAY if churned else None, mrr],
        )


def _run(con, text):
    card = parse_scorecard(text)
    score_and_publish(con, card, features_table="features", as_of_start=DAY, as_of_end=DAY, run_id="t")
    return {
        r[0]: r[1:]
        for r in con.execute(
            """select account_id, computed_score, coverage, churn_probability, arr_at_risk, top_reasons
            from scores.health_scores where objective = 'retention_risk' order by account_id"""
        ).fetchall()
    }


@pytest.fixture()
def con():
    c = duckdb.connect()
    _features(c)
    yield c
    c.close()


def test_bins_categories_and_booleans_score_as_written(con):
    s = _run(con, HEAD + FACTORS)
    assert s["A"][0] == pytest.approx(75.0)
    assert s["B"][0] == pytest.approx(35.0)  # 2 is on the edge: the upper bin (30), not 90
    assert s["C"][0] == pytest.approx(67.5)  # an unlisted plan scores `other`
    assert s["D"][0] == pytest.approx(50.0)
    assert s["E"][0] == pytest.approx(10.0)


def test_missing_rule_scores_but_still_counts_as_missing_data(con):
    s = _run(con, HEAD + FACTORS)
    # D: plan NULL is scored 40 by its `missing` rule, autopay NULL is left out; both lower coverage.
    assert s["D"][1] == pytest.approx(0.5)
    factors = dict(
        con.execute(
            "select factor, factor_score from scores.health_score_factors where account_id = 'D'"
        ).fetchall()
    )
    assert factors["plan"] == 40.0
    assert factors["autopay"] is None


def test_reasons_name_the_category_and_the_bin(con):
    _run(con, HEAD + FACTORS)
    reasons = dict(
        con.execute("select factor || ':' || account_id, reason from scores.health_score_factors").fetchall()
    )
    assert reasons["calls:B"] == "2 service calls (2 to 4)"
    assert reasons["calls:C"] == "4 service calls (4 or more)"
    assert reasons["plan:A"] == "On the Basic plan"
    assert reasons["plan:C"] == "On the Enterprise plan (another value)"
    assert reasons["autopay:B"] == "Autopay: no"
    raw = dict(
        con.execute(
            "select account_id, raw_text from scores.health_score_factors where factor = 'plan'"
        ).fetchall()
    )
    assert raw["B"] == " pro "  # the value as it was, matched trimmed and case-insensitively


def test_override_on_a_categorical_feature_changes_bins_for_that_plan(con):
    text = (
        HEAD
        + FACTORS
        + """
overrides:
  - name: basic plan
    when: {feature: plan, in: [basic]}
    normalisation:
      calls: {method: bins, edges: [1], scores: [100, 0]}
  - when: {feature: tenure, min: 5, max: 20}
    group_weights:
      retention_risk: {usage: 100, profile: 0}
"""
    )
    s = _run(con, text)
    # Every account has tenure 10: the second override puts all weight on usage; A is on Basic,
    # where 1 call is already the upper bin (0); E (basic too) has no calls: no usage data.
    assert s["A"][0] == pytest.approx(0.0)
    assert s["B"][0] == pytest.approx(30.0)
    assert s["E"][0] is None


def test_an_overrides_missing_scores_the_missing_values_it_covers(con):
    """An override's own `missing` (a learned card's per-level bins each have one), for bins and
    for a percentile factor; the accounts it does not cover keep the factor's `missing`."""
    text = (
        HEAD
        + """
factors:
  - name: calls
    label: Service calls
    feature: calls
    group: usage
    owner: support
    normalisation: {method: bins, edges: [2, 4], scores: [90, 30, 60], missing: 10}
    explain: {unit: count, low: "{value}", high: "{value}"}
  - name: calls_rank
    label: Calls rank
    feature: calls
    group: profile
    owner: support
    direction: lower_is_better
    normalisation: {method: percentile, peer_group: all, missing: 5}
    explain: {unit: count, low: "{value}", high: "{value}"}
overrides:
  - name: basic plan
    when: {feature: plan, in: [basic]}
    normalisation:
      calls: {method: bins, edges: [1], scores: [100, 0], missing: 70}
      calls_rank: {method: percentile, peer_group: all, missing: 95}
"""
    )
    con.execute("update features set calls = null where account_id = 'B'")  # B: Pro, no calls
    _run(con, text)
    got = {
        (f, a): v
        for f, a, v in con.execute(
            "select factor, account_id, factor_score from scores.health_score_factors"
        ).fetchall()
    }
    # E: basic plan, no calls -> the override's missing; B: Pro, no calls -> the factor's.
    assert got[("calls", "E")] == 70.0 and got[("calls_rank", "E")] == 95.0
    assert got[("calls", "B")] == 10.0 and got[("calls_rank", "B")] == 5.0
    # A (basic, 1 call) takes the override's bins; C (4 calls, another plan) the default's.
    assert got[("calls", "A")] == 0.0 and got[("calls", "C")] == 60.0


def test_percentile_ties_score_the_middle_not_zero(con):
    text = (
        HEAD
        + """
factors:
  - name: tenure_rank
    label: Tenure
    feature: tenure
    group: usage
    owner: cs
    direction: higher_is_better
    normalisation: {method: percentile, peer_group: all}
    explain: {unit: days, low: "{value} days", high: "{value} days"}
  - name: calls_rank
    label: Calls
    feature: calls
    group: profile
    owner: cs
    direction: lower_is_better
    normalisation: {method: percentile, peer_group: all}
    explain: {unit: count, low: "{value}", high: "{value}"}
"""
    )
    _run(con, text)
    scores = con.execute(
        "select factor, account_id, factor_score from scores.health_score_factors order by 1, 2"
    ).fetchall()
    tenure = {a: s for f, a, s in scores if f == "tenure_rank"}
    assert set(tenure.values()) == {50.0}  # all five tie
    calls = {a: s for f, a, s in scores if f == "calls_rank"}
    # calls 1, 2, 4, 9, lower is better; E has no value and is not ranked
    assert calls.pop("E") is None
    assert calls == pytest.approx({"A": 100.0, "B": 200 / 3, "C": 100 / 3, "D": 0.0})


def test_percentile_ties_share_their_mid_rank():
    c = duckdb.connect()
    _features(c, [(a, x, "Pro", "yes", False, 10) for a, x in zip("ABCD", (1, 5, 5, 9), strict=True)])
    text = (
        HEAD
        + """
factors:
  - name: calls_rank
    label: Calls
    feature: calls
    group: usage
    owner: cs
    direction: higher_is_better
    normalisation: {method: percentile, peer_group: all}
    explain: {unit: count, low: "{value}", high: "{value}"}
  - name: autopay
    label: Autopay
    feature: autopay
    group: profile
    owner: finance
    normalisation: {method: boolean, if_true: 100, if_false: 0}
    explain: {unit: number, low: "{bin}", high: "{bin}"}
"""
    )
    _run(c, text)
    got = dict(
        c.execute(
            "select account_id, factor_score from scores.health_score_factors where factor = 'calls_rank'"
        ).fetchall()
    )
    assert got == pytest.approx({"A": 0.0, "B": 50.0, "C": 50.0, "D": 100.0})


def test_calibration_publishes_churn_probability_and_arr_at_risk(con):
    text = HEAD + FACTORS + "calibration: {intercept: 1.0, slope: -0.05, horizon_days: 90}\n"
    s = _run(con, text)
    p = 1 / (1 + math.exp(-(1.0 - 0.05 * 75.0)))
    assert s["A"][2] == pytest.approx(p)
    assert s["A"][3] == pytest.approx(p * 1200)  # ARR = 12 x MRR
    assert s["E"][2] is None  # already churned: no forecast
    assert parse_scorecard(text).calibration.probability(75.0) == pytest.approx(p)


def test_without_calibration_the_probability_is_null(con):
    s = _run(con, HEAD + FACTORS)
    assert s["A"][2] is None and s["A"][3] is None


@pytest.mark.parametrize(
    ("normalisation", "message"),
    [
        ("{method: categories, scores: {a: 10}}", "needs `other`"),
        ("{method: categories, scores: {a: 10, A: 20}, other: 5}", "more than once"),
        ("{method: bins, edges: [1, 2], scores: [1, 2]}", "3 bins, but 2 scores"),
        ("{method: bins, edges: [2, 1], scores: [1, 2, 3]}", "strictly ascending"),
        ("{method: bins, edges: [1], scores: [1, 200]}", "from 0 to 100"),
        ("{method: boolean, if_true: 10}", "needs if_true and if_false"),
        ("{method: thresholds, low: 0, high: 1}", "needs a direction"),
        ("{method: bins, edges: [1], scores: [1, 2], low: 3}", "does not take low"),
    ],
)
def test_invalid_factor_types_are_refused_with_a_reason(normalisation, message):
    text = (
        HEAD
        + f"""
factors:
  - name: f
    label: F
    feature: x
    group: usage
    owner: cs
    normalisation: {normalisation}
    explain: {{unit: number, low: "{{value}}", high: "{{value}}"}}
"""
    )
    with pytest.raises(ScorecardError, match=message):
        parse_scorecard(text)


def test_override_conditions_are_checked_against_known_features():
    text = HEAD + FACTORS + "overrides:\n  - when: {feature: nope, in: [x]}\n    group_weights: {}\n"
    with pytest.raises(ScorecardError, match="condition on unknown feature 'nope'"):
        parse_scorecard(text, known_features={"calls", "plan", "autopay"})


def test_a_zero_value_reads_as_words_not_as_zero(con):
    """explain.zero: "No service call" instead of "0 service calls"; other values keep low/high."""
    text = HEAD + FACTORS.replace(
        'explain: {unit: count, low: "{value} service calls ({bin})", high: "{value} service calls ({bin})"}',
        'explain: {unit: count, low: "{value} service calls", high: "{value} service calls", zero: "No service call"}',
    )
    rows = [("Z", 0, "Basic", "yes", False, 100), *ROWS]
    _features(con, rows)
    _run(con, text)
    reasons = dict(
        con.execute(
            "select account_id, reason from scores.health_score_factors where factor = 'calls'"
        ).fetchall()
    )
    assert reasons["Z"] == "No service call"
    assert reasons["A"] == "1 service calls"  # 1 is not 0: the high template
    assert reasons["B"] == "2 service calls"
    assert reasons["E"] is None  # no value, no reason
