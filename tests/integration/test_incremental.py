"""Incremental feature builds equal a full rebuild, and rebuild only the days that changed.

On the point-in-time fixture (tests/integration/test_point_in_time.py): a first build derives a
year of days from the data; then a later load brings records known on earlier days (late
arrivals, from 2026-04-01) and records of a new day (2026-05-01). The incremental build must
(1) leave the days before 2026-04-01 untouched, (2) rebuild 2026-04-01 onwards and add the new
day, and (3) give exactly the features that `dbt build --full-refresh` gives for every day.
A rerun with nothing new loaded builds no day at all.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pytest

from orchestration.lib.ingest.loader import ensure_raw_schema
from tests.integration.test_point_in_time import AFTER_D_SQL, FIXTURE_SQL

# Four dbt builds of the feature mart (first, incremental, full refresh, rerun): not for test-fast.
pytestmark = pytest.mark.slow

DBT_PROJECT_DIR = Path(__file__).parents[2] / "dbt_project"
MART = "marts.fct_account_features_daily"
LATE_FROM = dt.date(2026, 4, 1)  # the earliest known day among the later load's records
# usage on the day after the newest built day (loaded with the late records)
NEW_DAY_SQL = """
insert into raw.usage_events values
    ('new-day-1', 'A002', 'U0', 'feature_0', timestamp '{day} 09:00:00', 1.0, null,
     'fixture-2', 'fixture-2.parquet', 'sha2', 90, timestamp '2026-05-02 00:00:00'),
    ('new-day-2', 'A010', 'U1', 'feature_1', timestamp '{day} 10:00:00', 1.0, null,
     'fixture-2', 'fixture-2.parquet', 'sha2', 91, timestamp '2026-05-02 00:00:00');
"""


def _dbt(tmp_path: Path, *extra: str) -> None:
    from dbt.cli.main import dbtRunner

    from orchestration.defs.transform.inprocess import release_duckdb

    args = [
        "run",
        "--select", "+fct_account_features_daily",
        "--project-dir", str(DBT_PROJECT_DIR),
        "--profiles-dir", str(DBT_PROJECT_DIR),
        "--target-path", str(tmp_path / "target"),
        "--log-path", str(tmp_path / "logs"),
        "--quiet",
        *extra,
    ]  # fmt: skip
    result = dbtRunner().invoke(args)
    release_duckdb()
    failed = [
        f"{r.node.name}: {r.status} {r.message}"
        for r in getattr(result.result, "results", None) or []
        if str(r.status) not in ("success", "pass")
    ]
    assert result.success, f"dbt run {' '.join(extra)} failed: {result.exception or failed}"


def _query(warehouse: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(sql).fetchall()


def _features(warehouse: Path) -> set[tuple]:
    return set(_query(warehouse, f"select * exclude (inputs_loaded_through) from {MART}"))


@pytest.fixture(scope="module")
def builds(tmp_path_factory: pytest.TempPathFactory) -> dict:
    tmp_path = tmp_path_factory.mktemp("incremental")
    warehouse = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(warehouse)) as con:
        ensure_raw_schema(con)
        con.execute(FIXTURE_SQL)
    patch = pytest.MonkeyPatch()
    patch.setenv("HEALTHSCORE_WAREHOUSE", str(warehouse))
    watermarks = f"select as_of_date, max(inputs_loaded_through) from {MART} group by 1"
    try:
        _dbt(tmp_path)
        first = dict(_query(warehouse, watermarks))
        _dbt(tmp_path)  # nothing new loaded
        nothing_new = {
            "range": _query(warehouse, "select as_of_start, as_of_end from intermediate.int_as_of_range")[0],
            "watermarks": dict(_query(warehouse, watermarks)),
        }
        with duckdb.connect(str(warehouse)) as con:
            con.execute(AFTER_D_SQL)
            con.execute(NEW_DAY_SQL.format(day=max(first) + dt.timedelta(days=1)))
        _dbt(tmp_path)
        incremental = {"features": _features(warehouse), "watermarks": dict(_query(warehouse, watermarks))}
        _dbt(tmp_path, "--full-refresh")
        full = {"features": _features(warehouse), "days": {r[0] for r in _query(warehouse, watermarks)}}
        yield {"first": first, "nothing_new": nothing_new, "incremental": incremental, "full": full}
    finally:
        patch.undo()


def test_nothing_new_builds_no_day(builds: dict) -> None:
    start, end = builds["nothing_new"]["range"]
    assert start > end
    assert builds["nothing_new"]["watermarks"] == builds["first"]


def test_only_days_that_changed_are_rebuilt(builds: dict) -> None:
    first, after = builds["first"], builds["incremental"]["watermarks"]
    kept = {day for day in first if day < LATE_FROM}
    assert kept and all(after[day] == first[day] for day in kept)
    rebuilt = {day for day in after if day >= LATE_FROM}
    assert max(first) + dt.timedelta(days=1) in rebuilt
    assert all(after[day] > first.get(day, dt.datetime.min) for day in rebuilt)


def test_incremental_equals_full_rebuild(builds: dict) -> None:
    incremental, full = builds["incremental"]["features"], builds["full"]["features"]
    shared = builds["full"]["days"]
    incremental_shared = {row for row in incremental if row[1] in shared}
    assert len(full) > 1000
    assert incremental_shared == full
