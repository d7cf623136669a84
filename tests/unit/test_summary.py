"""The run summary's text, snapshotted on a small pinned warehouse: what every user reads first.

The warehouse holds what the summary must get right: the latest run is a backfill (it scored an
earlier date than the current scores'), the one red account is red by an override with a
middling score, reasons longer than a line, an error and two warnings among the checks, and
quarantined rows. After an intended change of wording, refresh the snapshot with
    UPDATE_SNAPSHOTS=1 .venv/bin/pytest tests/unit/test_summary.py
and review the diff of tests/snapshots/summary.txt like code.
"""

from __future__ import annotations

import os
from pathlib import Path

import duckdb
import pytest

from orchestration.lib.reporting.summary import Places, summary_text
from tests.support.warehouse import seeded_warehouse

SNAPSHOT = Path(__file__).parents[1] / "snapshots" / "summary.txt"
REGENERATE = "UPDATE_SNAPSHOTS=1 .venv/bin/pytest tests/unit/test_summary.py"

LONG_REASONS = (
    "Product usage fell 50% against the previous 30 days; Only 14% of licensed seats were active in "
    "the last 30 days; Latest NPS response was 3 of 10 (detractor)"
)

# 6 accounts scored on 2026-03-03 (score version 1, with 2026-03-01..02 as history), then a
# backfill of 2026-02-20 (version 2). ACC-06 is red by an override although it scores 58.9.
SEED_SQL = f"""
insert into scores.score_runs values
    (1, 'run-1', 'default', '1.1.1', 'h', 'c', 'ib', date '2026-03-01', date '2026-03-03', 6, 18, 1.0,
     timestamp '2026-03-03 06:00:00'),
    (2, 'run-2', 'default', '1.1.1', 'h', 'c', 'ib', date '2026-02-20', date '2026-02-20', 6, 6, 1.0,
     timestamp '2026-03-03 07:00:00');
insert into scores.health_scores_current by name
select 1 as score_version, 'ACC-0' || i as account_id, date '2026-03-03' as as_of_date,
    'retention_risk' as objective, 'owner' || (i % 2) as owner,
    case i when 1 then 'SMB' when 2 then 'Enterprise' else 'Mid-Market' end as segment,
    [35.5, 44.0, 71.2, 88.0, null, 58.9][i] as health_score,
    [35.5, 44.0, 71.2, 88.0, null, 58.9][i] as computed_score,
    ['yellow', 'yellow', 'green', 'green', 'churned', 'red'][i] as grade,
    ['yellow', 'yellow', 'green', 'green', 'churned', 'yellow'][i] as computed_grade,
    [0.97, 0.84, 1.0, 0.9, 0.5, 1.0][i] as confidence, 1.0 as coverage, i = 5 as is_churned,
    [2228.0, 171221.0, 540.0, 900.0, 0.0, 8257.68][i] as arr,
    ['{LONG_REASONS}', '1 invoice paid late or unpaid past due in the last 6 months', null, null, null,
     'Support satisfaction averaged 2.4 of 5 in the last 90 days'][i] as top_reasons,
    case when i = 6 then 'ov-1' end as override_id,
    case when i = 6 then 'set_grade' end as override_action,
    case when i = 6 then 'Exec sponsor is evaluating competitors; not yet visible in the data.' end
        as override_reason,
    'default' as scorecard_name, '1.1.1' as scorecard_version, 'h' as scorecard_hash, 'c' as code_version,
    'run-1' as run_id, 'ib' as input_batches_id, timestamp '2026-03-03 06:00:00' as computed_at
from range(1, 7) a(i);
create schema marts;
create table marts.dim_accounts as
select 'ACC-0' || i as account_id,
    ['Juniper Retail LLC', 'Granite Travel Holdings', 'Maple Energy Co', 'Nova Learning GmbH',
     'Atlas Health Inc', 'Redwood Travel BV'][i] as account_name
from range(1, 7) a(i);
insert into raw._load_batches values
    ('b1', 'usage_events', 'usage_events/events.parquet', 'x1', 'parquet', 1000, 996, 4, null,
     timestamp '2026-03-03 04:00:00'),
    ('b2', 'accounts', 'accounts/accounts.csv', 'x2', 'csv', 6, 6, 0, null, timestamp '2026-03-03 04:00:00');
insert into quality.check_results (check_name, source, category, expectation, column_name, severity, passed,
        observed_value, unexpected_count, failing_sample, run_id, checked_at, scope, rows_checked) values
    ('accounts.uniqueness.unique.account_id', 'accounts', 'uniqueness', 'unexpected_rows_expectation',
     'account_id', 'error', false, '1', 1, '[]', 'qrun-2', timestamp '2026-03-03 05:00:00', 'rows', 6),
    ('usage_events.uniqueness.unique.event_id', 'usage_events', 'uniqueness', 'unexpected_rows_expectation',
     'event_id', 'warn', false, '12', 12, '[]', 'qrun-2', timestamp '2026-03-03 05:00:00', 'rows', 996),
    ('usage_events.referential_integrity.no_orphans.account_id', 'usage_events', 'referential_integrity',
     'unexpected_rows_expectation', 'account_id', 'warn', false, '1', 1, '[]', 'qrun-2',
     timestamp '2026-03-03 05:00:00', 'rows', 996),
    ('usage_events.completeness.not_null.event_id', 'usage_events', 'completeness',
     'expect_column_values_to_not_be_null', 'event_id', 'error', true, '0.0', 0, '[]', 'qrun-2',
     timestamp '2026-03-03 05:00:00', 'rows', 996),
    ('usage_events.completeness.not_null.event_id', 'usage_events', 'completeness',
     'expect_column_values_to_not_be_null', 'event_id', 'error', false, '5.0', 50, '[]', 'qrun-1',
     timestamp '2026-03-02 05:00:00', 'rows', 1000);
"""


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return seeded_warehouse(tmp_path_factory.mktemp("summary") / "wh.duckdb", SEED_SQL)


PLACES = Places(
    source=Path("data/published/healthscore_published.duckdb"),
    snapshot=Path("data/published/healthscore_published.duckdb"),
    report=Path("data/published/report.html"),
    data_docs=Path("data/published/data_docs/index.html"),
    dagster_home=Path(".dagster_home"),
    log_file=Path("data/logs/run-20260303T060000Z.log"),
    command=".venv/bin/healthscore",
)


def _summary(warehouse: Path) -> str:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return summary_text(con, PLACES)


def test_summary_matches_the_snapshot(warehouse: Path) -> None:
    text = _summary(warehouse) + "\n"
    if os.environ.get("UPDATE_SNAPSHOTS") == "1":
        SNAPSHOT.write_text(text)
    assert SNAPSHOT.exists(), f"{SNAPSHOT.name} is missing; write it on purpose with `{REGENERATE}`"
    assert text == SNAPSHOT.read_text(), f"the summary changed; if intended, `{REGENERATE}` and review"


def test_summary_tells_the_truth(warehouse: Path) -> None:
    """What the snapshot must keep saying, whatever the wording."""
    text = _summary(warehouse)
    lines = text.splitlines()
    # The date above the figures is the date of the figures, and the backfill is named as such.
    assert "as of 2026-03-03" in text and "as of 2026-02-20" not in text
    assert "backfill" in text and "2026-02-20" in text
    # The account made red by an override is listed first, with its name, ARR and the override.
    at_risk = lines.index(next(line for line in lines if "most at-risk" in line))
    first = lines[at_risk + 2]
    assert first.split()[:2] == ["ACC-06", "Redwood"] and "$8,258" in first and "red" in first
    assert "override" in lines[at_risk + 3] and "58.9 yellow" in lines[at_risk + 3]
    assert "ACC-05" not in text  # churned: not at risk
    # Reasons are never cut mid-word: every word of them is printed.
    printed = " ".join(line.strip() for line in lines)
    assert LONG_REASONS in printed
    assert all(len(line) <= 100 for line in lines)
    # Errors and warnings counted apart, for the latest quality run only.
    assert "1 error" in text and "2 warnings" in text and "not_null.event_id" not in text
    assert "accounts.uniqueness.unique.account_id: 1 row of 6 checked" in text
    # Where to go next.
    for needle in (
        "healthscore sql",
        "data/published/report.html",
        "data/published/data_docs/index.html",
        "healthscore dq",
        "data/logs/run-20260303T060000Z.log",
    ):
        assert needle in text
