"""A scorecard with a mistake is rejected with a message naming the problem."""

from __future__ import annotations

import pytest

from orchestration.lib.scoring.scorecard import ScorecardError, load_scorecard, parse_scorecard
from orchestration.lib.settings import PROJECT_ROOT

BASE = """
name: t
version: "1"
owner: tests
description: d
groups: {usage: Usage, money: Money}
objectives:
  retention_risk:
    label: R
    description: r
    group_weights: {usage: 60, money: 40}
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
    normalisation: {method: thresholds, low: 0, high: 100}
    explain: {unit: count, low: "{value} users", high: "{value} users"}
"""


def _bad(old: str, new: str, **kw) -> str:
    assert old in BASE
    with pytest.raises(ScorecardError) as err:
        parse_scorecard(BASE.replace(old, new), source="cards/t.yml", **kw)
    assert "cards/t.yml" in str(err.value)
    return str(err.value)


def test_base_card_is_valid():
    card = parse_scorecard(BASE, known_features={"active_users_30d"})
    assert card.factors[0].name == "users"
    assert len(card.content_hash) == 64


def test_unknown_feature_is_named():
    msg = _bad("feature: active_users_30d", "feature: active_userz", known_features={"active_users_30d"})
    assert "unknown feature 'active_userz'" in msg


def test_weights_that_do_not_add_up():
    assert "add up to 90, not 100" in _bad("{usage: 60, money: 40}", "{usage: 50, money: 40}")


def test_overlapping_bands():
    msg = _bad("{grade: yellow, min: 40, max: 70}", "{grade: yellow, min: 30, max: 70}")
    assert "'red' and 'yellow' overlap or are unordered" in msg


def test_gap_between_bands():
    assert "gap between bands 'yellow' and 'green'" in _bad(
        "{grade: yellow, min: 40, max: 70}", "{grade: yellow, min: 40, max: 60}"
    )


def test_unordered_thresholds():
    assert "thresholds are unordered" in _bad("low: 0, high: 100", "low: 100, high: 0")


def test_unknown_group_and_owner():
    assert "unknown group 'usag'" in _bad("group: usage", "group: usag")
    assert "owner" in _bad("owner: product", "owner: marketing")


def test_unknown_placeholder():
    assert "unknown placeholder {valu}" in _bad('low: "{value} users"', 'low: "{valu} users"')


def test_segment_override_weights_checked():
    text = (
        BASE
        + """
segment_overrides:
  SMB:
    group_weights:
      retention_risk: {usage: 70, money: 40}
"""
    )
    with pytest.raises(
        ScorecardError,
        match="segment override 'SMB', objective 'retention_risk': group weights add up to 110",
    ):
        parse_scorecard(text)


def test_missing_file(tmp_path):
    with pytest.raises(ScorecardError, match="does not exist"):
        load_scorecard(tmp_path / "no-such-card.yml")


def test_shipped_scorecards_are_valid():
    cards = sorted((PROJECT_ROOT / "scorecards").glob("*.yml"))
    assert cards
    for path in cards:
        load_scorecard(path)
