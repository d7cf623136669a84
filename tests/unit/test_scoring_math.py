"""The scoring math against hand-computed examples, run through the compiled SQL."""

from __future__ import annotations

import datetime as dt

import duckdb
import pytest

from orchestration.lib.ingest.loader import ensure_raw_schema
from orchestration.lib.scoring.scorecard import parse_scorecard
from orchestration.lib.scoring.scores import score_and_publish

CARD = """
name: test
version: "0.1"
owner: tests
description: hand-checkable card
change_window_days: 1
groups: {usage: Usage, money: Money}
objectives:
  retention_risk:
    label: Retention
    description: r
    group_weights: {usage: 60, money: 40}
bands:
  - {grade: red, min: 0, max: 40}
  - {grade: yellow, min: 40, max: 70}
  - {grade: green, min: 70, max: 100}
confidence: {min_for_grade: 0.5, fresh_days: 14, stale_days: 90, stale_floor: 0.3}
factors:
  - name: users
    label: Users
    feature: a
    group: usage
    owner: product
    direction: higher_is_better
    normalisation: {method: thresholds, low: 0, high: 100}
    explain: {unit: count, low: "Only {value} users", high: "{value} users"}
  - name: recency
    label: Recency
    feature: b
    group: usage
    owner: product
    direction: lower_is_better
    normalisation: {method: thresholds, low: 0, high: 10}
    explain: {unit: days, low: "Idle for {value} days", high: "Active {value} days ago"}
  - name: payments
    label: Payments
    feature: c
    group: money
    owner: finance
    direction: lower_is_better
    normalisation: {method: thresholds, low: 0, high: 5}
    explain: {unit: count, low: "{value} late payments", high: "{value} late payments"}
segment_overrides:
  Enterprise:
    group_weights:
      retention_risk: {usage: 20, money: 80}
industry_overrides:
  Retail:
    normalisation:
      users: {method: thresholds, low: 0, high: 50}
"""

DAY = dt.date(2026, 6, 30)

# account, segment, industry, parent, a, b, c, churned, mrr, days_since_last_signal
ROWS = [
    ("A1", "SMB", "Software", None, 50, 5, 1, False, 10, 1),  # 0.6*50 + 0.4*80 = 62 -> yellow
    ("A2", "SMB", "Software", None, 80, None, None, False, 10, 1),  # only users: 80, coverage 0.3
    ("A3", "Enterprise", "Software", None, 50, 5, 1, False, 10, 1),  # 0.2*50 + 0.8*80 = 74 -> green
    ("A4", "SMB", "Retail", None, 25, 5, 1, False, 10, 1),  # users 25/50 -> 50: 62 -> yellow
    ("A5", "SMB", "Software", None, 40, 6, 3, False, 10, 1),  # 40, 40, 40 -> exactly 40 -> yellow
    ("A6", "SMB", "Software", None, 100, 0, 0, True, 0, 1),  # churned: never green
    ("A7", "SMB", "Software", None, 70, 3, 0, False, 10, 200),  # stale: confidence 0.3
    ("P", "Enterprise", "Software", None, 100, 0, 0, False, 0, 1),
    ("C1", "SMB", "Software", "P", 100, 0, 0, False, 100, 1),  # 100
    ("C2", "SMB", "Software", "P", 0, 10, 5, False, 300, 1),  # 0
]


def _setup(con: duckdb.DuckDBPyConnection, rows=ROWS, dates=(DAY,)) -> None:
    ensure_raw_schema(con)
    con.execute(
        """create table features (account_id varchar, as_of_date date, segment varchar, industry varchar,
        owner varchar, parent_account_id varchar, a double, b double, c double, is_churned boolean,
        churned_on date, mrr double, days_since_last_signal integer)"""
    )
    for day in dates:
        for acc, seg, ind, parent, a, b, c, churned, mrr, fresh in rows:
            con.execute(
                "insert into features values (?, ?, ?, ?, 'owner', ?, ?, ?, ?, ?, ?, ?, ?)",
                [acc, day, seg, ind, parent, a, b, c, churned, day if churned else None, mrr, fresh],
            )


def _score(con, card_text=CARD, start=DAY, end=DAY):
    card = parse_scorecard(card_text)
    return score_and_publish(
        con, card, features_table="features", as_of_start=start, as_of_end=end, run_id="test-run"
    )


def _scores(con, version=1) -> dict[str, tuple]:
    rows = con.execute(
        """select account_id, health_score, grade, computed_score, confidence, coverage, override_id
        from scores.health_scores where score_version = ? order by account_id""",
        [version],
    ).fetchall()
    return {r[0]: r[1:] for r in rows}


@pytest.fixture()
def con():
    connection = duckdb.connect()
    _setup(connection)
    yield connection
    connection.close()


def test_hand_computed_scores_and_grades(con):
    _score(con)
    s = _scores(con)
    assert s["A1"][0] == pytest.approx(62.0)
    assert s["A1"][1] == "yellow"
    # Segment override: Enterprise weighs money 80%.
    assert s["A3"][0] == pytest.approx(74.0)
    assert s["A3"][1] == "green"
    # Industry override: Retail's users threshold tops out at 50.
    assert s["A4"][0] == pytest.approx(62.0)


def test_missing_factors_renormalise_and_lower_confidence(con):
    _score(con)
    score, grade, computed, confidence, coverage, _ = _scores(con)["A2"]
    # Recency and the whole money group are missing: the score is users alone.
    assert computed == pytest.approx(80.0)
    assert coverage == pytest.approx(0.3)  # users' nominal weight: 60% x 1/2
    assert confidence == pytest.approx(0.3)
    assert grade == "insufficient_data"


def test_value_exactly_on_band_edge_takes_upper_band(con):
    _score(con)
    score, grade, *_ = _scores(con)["A5"]
    assert score == 40.0
    assert grade == "yellow"
    card = parse_scorecard(CARD)
    assert [card.grade_for(x) for x in (0, 39.99, 40, 69.99, 70, 100)] == [
        "red",
        "red",
        "yellow",
        "yellow",
        "green",
        "green",
    ]


def test_churned_accounts_are_never_green(con):
    _score(con)
    score, grade, computed, *_ = _scores(con)["A6"]
    assert computed == pytest.approx(100.0)
    assert grade == "churned"


def test_stale_data_lowers_confidence_not_grade(con):
    _score(con)
    _, grade, computed, confidence, coverage, _ = _scores(con)["A7"]
    assert coverage == pytest.approx(1.0)
    assert confidence == pytest.approx(0.3)
    assert grade == "insufficient_data"


def test_contributions_add_up_to_the_score(con):
    _score(con)
    rows = con.execute(
        """select s.account_id, s.computed_score, sum(f.contribution), sum(f.weight)
        from scores.health_scores s join scores.health_score_factors f using (score_version, account_id, as_of_date, objective)
        group by all"""
    ).fetchall()
    assert len(rows) == len(ROWS)
    for account, score, total, weights in rows:
        assert total == pytest.approx(score, abs=0.005), account
        assert weights == pytest.approx(1.0), account


def test_reasons_are_plain_words(con):
    _score(con)
    reasons = con.execute("select top_reasons from scores.health_scores where account_id = 'C2'").fetchone()[
        0
    ]
    assert "Only 0 users" in reasons
    assert "5 late payments" in reasons
    assert "Idle for 10 days" in reasons


def test_rollup_weights_children_by_arr_and_names_the_worst(con):
    _score(con)
    row = con.execute(
        """select rollup_score, accounts_in_rollup, worst_account_id, worst_account_score, rollup_grade
        from scores.health_score_rollups where parent_account_id = 'P'"""
    ).fetchone()
    # P (arr 0) 100, C1 (arr 1200) 100, C2 (arr 3600) 0 -> 1200*100 / 4800 = 25
    assert row[0] == pytest.approx(25.0)
    assert row[1] == 3
    assert row[2] == "C2" and row[3] == pytest.approx(0.0)
    assert row[4] == "red"


def _add_override(con, override_id, account, action, value, grade, created, expires):
    con.execute(
        """insert into raw.overrides (override_id, account_id, objective, action, value, grade, author,
        reason, created_at, expires_at, _batch_id, _source_file, _file_checksum, _row_number, _loaded_at)
        values (?, ?, 'retention_risk', ?, ?, ?, 'jo@cs', 'exec sponsor confirmed renewal', ?, ?,
        'b1', 'overrides/o.csv', 'x', 1, now())""",
        [override_id, account, action, value, grade, created, expires],
    )


def test_overrides_apply_until_they_expire():
    con = duckdb.connect()
    days = (dt.date(2026, 6, 1), dt.date(2026, 6, 10), dt.date(2026, 6, 20))
    _setup(con, dates=days)
    _add_override(
        con, "O1", "A1", "set_grade", None, "green", dt.datetime(2026, 6, 5), dt.datetime(2026, 6, 15)
    )
    _add_override(con, "O2", "A3", "adjust_score", -30, None, dt.datetime(2026, 5, 1), None)
    _score(con, start=days[0], end=days[-1])
    rows = dict(
        con.execute(
            """select account_id || ' ' || cast(as_of_date as varchar), grade || ' ' || coalesce(override_id, '-')
            from scores.health_scores where account_id in ('A1', 'A3')"""
        ).fetchall()
    )
    assert rows["A1 2026-06-01"] == "yellow -"  # before the override was made
    assert rows["A1 2026-06-10"] == "green O1"
    assert rows["A1 2026-06-20"] == "yellow -"  # expired by itself
    assert rows["A3 2026-06-10"] == "yellow O2"  # 74 - 30 = 44
    score, computed, reason = con.execute(
        """select health_score, computed_score, override_reason from scores.health_scores
        where account_id = 'A3' and as_of_date = '2026-06-10'"""
    ).fetchone()
    assert (score, computed) == (pytest.approx(44.0), pytest.approx(74.0))
    assert reason == "exec sponsor confirmed renewal"


def test_each_run_appends_a_version_and_current_follows_the_latest(con):
    first = _score(con)
    second = _score(con)
    assert (first.score_version, second.score_version) == (1, 2)
    assert con.execute("select count(*) from scores.health_scores").fetchone()[0] == 2 * len(ROWS)
    current = con.execute(
        "select count(*), min(score_version), max(score_version) from scores.health_scores_current"
    ).fetchone()
    assert current == (len(ROWS), 2, 2)
    lineage = con.execute(
        "select distinct scorecard_version, scorecard_hash, run_id from scores.health_scores_current"
    ).fetchall()
    assert lineage == [("0.1", parse_scorecard(CARD).content_hash, "test-run")]


def test_change_since_previous_date_is_attributed_to_factors():
    con = duckdb.connect()
    _setup(con, dates=(DAY - dt.timedelta(days=1),))
    moved = [tuple(r[:4]) + (r[4] - 30,) + tuple(r[5:]) if r[0] == "A1" else r for r in ROWS]
    _setup_rows = moved
    for acc, seg, ind, parent, a, b, c, churned, mrr, fresh in _setup_rows:
        con.execute(
            "insert into features values (?, ?, ?, ?, 'owner', ?, ?, ?, ?, ?, ?, ?, ?)",
            [acc, DAY, seg, ind, parent, a, b, c, churned, None, mrr, fresh],
        )
    _score(con)
    change, drivers = con.execute(
        "select score_change, change_drivers from scores.health_scores where account_id = 'A1'"
    ).fetchone()
    # users 50 -> 20: usage group falls 15, overall 0.6 * 15 = 9 points, all from users.
    assert change == pytest.approx(-9.0)
    assert drivers == "Users -9.0"


def test_chunked_scoring_publishes_the_same_version_as_one_pass():
    days = tuple(DAY - dt.timedelta(days=n) for n in range(6, -1, -1))
    results = []
    # one pass; chunks of 2 days; chunks of 1 day x slices of about 2 accounts (the slices a
    # day of a million accounts is scored in; a family's rollup spans slices)
    for chunk_days, chunk_account_days in ((31, 10**6), (2, 10**6), (31, 2)):
        con = duckdb.connect()
        _setup(con, dates=days)
        run = score_and_publish(
            con,
            parse_scorecard(CARD),
            features_table="features",
            as_of_start=days[0],
            as_of_end=days[-1],
            run_id="r",
            chunk_days=chunk_days,
            chunk_account_days=chunk_account_days,
        )
        assert run.score_version == 1
        results.append(
            con.execute(
                """select account_id, as_of_date, health_score, grade, score_change, top_reasons,
                    (select count(*) from scores.health_score_factors),
                    (select count(*) from scores.health_score_rollups),
                    (select sum(rollup_score) from scores.health_score_rollups)
                from scores.health_scores order by all"""
            ).fetchall()
        )
        con.close()
    assert results[0] == results[1] == results[2]
    assert len(results[0]) == len(ROWS) * len(days)
    assert results[0][0][-1] > 0  # rollups were written


def _many_factor_card() -> str:
    """Groups 70/30 with five equal factors each: the nominal weights 0.14 x 5 + 0.06 x 5 add up to
    1.0000000000000002 in floating point, so an unclamped coverage (and confidence) exceeds 1."""
    factors = "".join(
        f"""
  - name: f{group}{i}
    label: F{group}{i}
    feature: a
    group: {group}
    owner: product
    direction: higher_is_better
    normalisation: {{method: thresholds, low: 0, high: 100}}
    explain: {{unit: count, low: "{{value}}", high: "{{value}}"}}"""
        for group in ("usage", "money")
        for i in range(5)
    )
    head = CARD.split("factors:")[0].replace("{usage: 60, money: 40}", "{usage: 70, money: 30}")
    return head + "factors:" + factors + "\n"


def test_coverage_and_confidence_stay_within_0_and_1(con):
    _score(con, card_text=_many_factor_card())
    rows = con.execute("select account_id, coverage, confidence from scores.health_scores").fetchall()
    assert len(rows) == len(ROWS)
    for account, coverage, confidence in rows:
        assert 0.0 <= coverage <= 1.0, (account, coverage)
        assert 0.0 <= confidence <= 1.0, (account, confidence)
    fresh = {account: (coverage, confidence) for account, coverage, confidence in rows}["A1"]
    assert fresh == (1.0, 1.0)
