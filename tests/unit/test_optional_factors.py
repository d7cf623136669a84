"""An optional factor reads a feature only some datasets have (a custom attribute): where the
feature table lacks the column, the card still loads and scores, without that factor, and says
so; where the column exists, the factor counts like any other."""

from __future__ import annotations

import datetime as dt

import duckdb
import pytest

from orchestration.lib.backtest.history import score_history
from orchestration.lib.scoring.scorecard import ScorecardError, load_scorecard, parse_scorecard
from orchestration.lib.settings import PROJECT_ROOT

DAY = dt.date(2026, 3, 31)

CARD = """
name: t
version: "1"
owner: tests
description: d
groups: {usage: Usage, contract: Contract}
objectives:
  retention_risk:
    label: R
    description: r
    group_weights: {usage: 50, contract: 50}
    factor_weights: {renews: 3}
bands:
  - {grade: red, min: 0, max: 40}
  - {grade: yellow, min: 40, max: 70}
  - {grade: green, min: 70, max: 100}
factors:
  - name: users
    label: Users
    feature: active_users_30d
    group: usage
    owner: product
    direction: higher_is_better
    normalisation: {method: thresholds, low: 0, high: 10}
    explain: {unit: count, low: "{value} users", high: "{value} users"}
  - name: discount
    label: Discount
    feature: discount_pct
    group: contract
    owner: sales
    direction: lower_is_better
    normalisation: {method: thresholds, low: 0, high: 40}
    explain: {unit: pct, low: "{value} discount", high: "{value} discount"}
  - name: renews
    label: Auto-renewal
    feature: attr_auto_renew
    group: contract
    owner: sales
    optional: true
    normalisation: {method: boolean, if_true: 100, if_false: 0}
    explain: {unit: number, low: "does not renew automatically", high: "renews automatically"}
segment_overrides:
  SMB:
    normalisation:
      renews: {method: boolean, if_true: 90, if_false: 10}
"""


def _warehouse(with_attribute: bool) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(":memory:")
    attr = ", attr_auto_renew" if with_attribute else ""
    values = ", false), ('B', 8.0, 0.0, true)" if with_attribute else "), ('B', 8.0, 0.0)"
    con.execute(
        f"""create table features as select *, date '{DAY}' as as_of_date, 'SMB' as segment,
        'x' as industry, 'o' as owner, cast(null as varchar) as parent_account_id, 1 as days_since_last_signal,
        false as is_churned, cast(null as date) as churned_on, 50.0 as mrr
        from (values ('A', 2.0, 30.0{values}) t(account_id, active_users_30d, discount_pct{attr})"""
    )
    return con


def _columns(con: duckdb.DuckDBPyConnection) -> set[str]:
    return {r[0] for r in con.execute("select * from features limit 0").description}


def test_an_absent_optional_feature_leaves_the_factor_out_with_a_note():
    con = _warehouse(with_attribute=False)
    card = parse_scorecard(CARD, known_features=_columns(con))
    assert [f.name for f in card.factors] == ["users", "discount"]
    assert card.notes == (
        "optional factor 'renews' left out: the feature table has no column 'attr_auto_renew'",
    )
    # ... and from everything that named it
    assert "renews" not in card.objectives["retention_risk"].factor_weights
    assert "renews" not in card.segment_overrides["SMB"].normalisation
    scores = score_history(con, card, features_table="features", dates=[DAY]).scores
    assert len(scores) == 2 and scores["computed_score"].notna().all()
    # the contract group is the discount alone: A (30% discount) 25 points there, B (none) 100
    by = scores.set_index("account_id")["computed_score"]
    assert by["B"] > by["A"]


def test_a_present_optional_feature_counts():
    con = _warehouse(with_attribute=True)
    card = parse_scorecard(CARD, known_features=_columns(con))
    assert [f.name for f in card.factors] == ["users", "discount", "renews"] and card.notes == ()
    with_it = score_history(con, card, features_table="features", dates=[DAY]).scores
    without = score_history(
        con,
        parse_scorecard(CARD.replace("attr_auto_renew", "attr_absent"), known_features=_columns(con)),
        features_table="features",
        dates=[DAY],
    ).scores
    a_with = with_it.set_index("account_id")["computed_score"]["A"]
    a_without = without.set_index("account_id")["computed_score"]["A"]
    # A: 2 users = 20 points; a 30% discount = 25 points. Without the factor: (20 + 25) / 2.
    # With it, A does not renew automatically: 10 points (the SMB override), weight 3 of the
    # contract group's 4: (20 + (25 + 3 x 10) / 4) / 2.
    assert a_without == pytest.approx(22.5, abs=0.01)
    assert a_with == pytest.approx(16.875, abs=0.01)


def test_a_feature_that_is_not_optional_is_still_refused():
    with pytest.raises(ScorecardError, match="unknown feature 'attr_auto_renew'"):
        parse_scorecard(
            CARD.replace("    optional: true\n", ""), known_features={"active_users_30d", "discount_pct"}
        )


def test_without_a_feature_table_every_factor_is_kept():
    from orchestration.lib.scoring.render import render_markdown

    card = parse_scorecard(CARD)  # render, validate: no warehouse to compare with
    assert [f.name for f in card.factors] == ["users", "discount", "renews"] and card.notes == ()
    page = render_markdown(card)
    assert "`attr_auto_renew` (optional: left out where the feature table has no such column)" in page
    assert "`discount_pct` |" in page


def test_a_card_cannot_set_its_own_notes():
    with pytest.raises(ScorecardError, match="notes"):
        parse_scorecard(CARD + "notes: [hello]\n")


def test_the_default_card_loads_on_a_dataset_without_custom_attributes():
    """RavenStack and the telecom example declare other attributes: the default card's
    auto-renewal factor is optional and left out there."""
    path = PROJECT_ROOT / "scorecards" / "default.yml"
    optional = [f for f in load_scorecard(path).factors if f.optional]
    assert [f.feature for f in optional] == ["attr_auto_renew"]
    standard = {f.feature for f in load_scorecard(path).factors} - {"attr_auto_renew"} | {
        "segment",
        "industry",
    }
    card = load_scorecard(path, known_features=standard)
    assert "attr_auto_renew" not in {f.feature for f in card.factors}
    assert any("attr_auto_renew" in n for n in card.notes)
