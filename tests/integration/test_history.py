"""Current-state exports keep their history: a re-export loads, gates pass, and a changed value
applies from its load date only (dbt_project/macros/history.sql, docs/operations.md).

Two accounts exports (CSV, the second with a changed segment, industry and owner for a few
accounts) are loaded through the loader at pinned load times on top of the point-in-time
fixture; the quality gates are run after each load, and the feature mart is built after the
first load, then incrementally after the second, and once more from scratch.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import duckdb
import pytest

from orchestration.lib.dbt_cli import project_args
from orchestration.lib.ingest.loader import ensure_raw_schema, load_source
from orchestration.lib.quality.validate import validate_sources
from orchestration.lib.settings import PROJECT_ROOT
from tests.integration.test_point_in_time import FIXTURE_SQL

DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"
FIRST_LOAD = dt.datetime(2026, 2, 1, 6, 0)
SECOND_LOAD = dt.datetime(2026, 4, 10, 14, 30)  # the change applies from 2026-04-10
CHANGED = {"A001": "Enterprise", "A002": "SMB", "A004": "Mid-Market"}  # new segment per account
HEADER = "account_id,account_name,industry,segment,country,owner,created_at,parent_account_id"


def _export(con: duckdb.DuckDBPyConnection, path: Path, changed: dict[str, str]) -> None:
    rows = con.execute(
        "select account_id, account_name, industry, segment, country, owner, created_at "
        "from raw.accounts order by account_id"
    ).fetchall()
    lines = [HEADER]
    for account_id, name, industry, segment, country, owner, created in rows:
        if account_id in changed:
            segment, industry, owner = changed[account_id], "fintech", "new owner"
        lines.append(f"{account_id},{name},{industry},{segment.strip()},{country},{owner},{created},")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")


def _dbt(tmp_path: Path, *extra: str) -> None:
    from dbt.cli.main import dbtRunner

    from orchestration.defs.transform.inprocess import release_duckdb

    args = [
        "run", "--select", "+fct_account_features_daily",
        *project_args(DBT_PROJECT_DIR, tmp_path / "target", tmp_path / "logs"),
        "--vars", json.dumps({"as_of_start": "2026-03-01", "as_of_end": "2026-04-30"}),
        "--quiet", *extra,
    ]  # fmt: skip
    result = dbtRunner().invoke(args)
    release_duckdb()
    assert result.success, f"dbt failed: {result.exception or result.result}"


def _rows(warehouse: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(sql).fetchall()


MART = "select * exclude (inputs_loaded_through) from marts.fct_account_features_daily"


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> dict:
    tmp_path = tmp_path_factory.mktemp("history")
    warehouse, landing = tmp_path / "warehouse.duckdb", tmp_path / "landing"
    with duckdb.connect(str(warehouse)) as con:
        ensure_raw_schema(con)
        con.execute(FIXTURE_SQL)
        # the accounts come from two CSV exports through the loader instead
        _export(con, landing / "accounts" / "accounts_2026-02-01.csv", {})
        _export(con, tmp_path / "later" / "accounts_2026-04-10.csv", CHANGED)
        con.execute("delete from raw.accounts")
        first = load_source(con, "accounts", landing, loaded_at=FIRST_LOAD)
    gates = [validate_sources(warehouse, ["accounts"], now=dt.datetime(2026, 4, 30))["accounts"]]
    patch = pytest.MonkeyPatch()
    patch.setenv("HEALTHSCORE_WAREHOUSE", str(warehouse))
    try:
        _dbt(tmp_path)
        before = set(_rows(warehouse, MART))
        (tmp_path / "later" / "accounts_2026-04-10.csv").rename(
            landing / "accounts" / "accounts_2026-04-10.csv"
        )
        with duckdb.connect(str(warehouse)) as con:
            second = load_source(con, "accounts", landing, loaded_at=SECOND_LOAD)
        gates.append(validate_sources(warehouse, ["accounts"], now=dt.datetime(2026, 4, 30))["accounts"])
        gates.append(validate_sources(warehouse, ["accounts"], now=dt.datetime(2026, 4, 30))["accounts"])
        _dbt(tmp_path)
        incremental = set(_rows(warehouse, MART))
        _dbt(tmp_path, "--full-refresh")
        yield {
            "warehouse": warehouse,
            "loads": [first, second],
            "gates": gates,
            "before": before,
            "incremental": incremental,
            "full": set(_rows(warehouse, MART)),
        }
    finally:
        patch.undo()


def test_both_exports_load_and_every_later_gate_passes(history: dict) -> None:
    first, second = history["loads"]
    assert first.rows_loaded == second.rows_loaded > 20
    assert first.rows_quarantined == second.rows_quarantined == 0
    for result in history["gates"]:
        assert not [o.check_name for o in result.results if o.blocking], result.scope_summary
        assert all(o.success for o in result.category("uniqueness"))


def test_the_change_applies_from_its_load_date(history: dict) -> None:
    rows = _rows(
        history["warehouse"],
        "select account_id, as_of_date, segment, industry, owner from marts.fct_account_features_daily "
        "where account_id in ('A001', 'A002', 'A004') and as_of_date in "
        "(date '2026-04-09', date '2026-04-10', date '2026-04-30') order by 1, 2",
    )
    for account_id, as_of_date, segment, industry, owner in rows:
        if as_of_date < dt.date(2026, 4, 10):
            assert (segment, industry, owner) != (CHANGED[account_id], "fintech", "new owner")
        else:
            assert (segment, industry, owner) == (CHANGED[account_id], "fintech", "new owner")
    assert len(rows) == 9


def test_earlier_dates_keep_what_was_known_then(history: dict) -> None:
    def day(rows: set, before: bool) -> set:
        return {r for r in rows if (r[1] < dt.date(2026, 4, 10)) == before}

    assert day(history["full"], before=True) == day(history["before"], before=True)
    assert day(history["full"], before=False) != day(history["before"], before=False)


def test_an_incremental_build_picks_up_the_new_export(history: dict) -> None:
    assert history["incremental"] == history["full"]


def test_current_state_is_the_latest_export(history: dict) -> None:
    rows = dict(
        _rows(
            history["warehouse"],
            "select account_id, segment from staging.stg_crm__accounts where account_id in ('A001', 'A002', 'A004')",
        )
    )
    assert rows == CHANGED
    versions = _rows(
        history["warehouse"],
        "select valid_from, valid_to, is_current from staging.stg_crm__account_versions "
        "where account_id = 'A001' order by valid_from",
    )
    assert versions == [
        (dt.date(1900, 1, 1), dt.date(2026, 4, 10), False),
        (dt.date(2026, 4, 10), None, True),
    ]


def test_a_future_dated_record_never_moves_the_as_of_range(tmp_path: Path, monkeypatch) -> None:
    """A ticket dated 2099 that reached raw without the loader (which quarantines it): the as_of
    range still ends on the reference date the pipeline passes (int_as_of_range)."""
    from dbt.cli.main import dbtRunner

    from orchestration.defs.transform.inprocess import release_duckdb

    warehouse = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(warehouse)) as con:
        ensure_raw_schema(con)
        con.execute(FIXTURE_SQL)
        con.execute(
            "insert into raw.support_tickets select * replace ('T-2099' as ticket_id, "
            "timestamp '2099-01-01 00:00:00' as opened_at) from raw.support_tickets limit 1"
        )
    monkeypatch.setenv("HEALTHSCORE_WAREHOUSE", str(warehouse))
    ends = []
    for reference in (None, "2026-04-30"):
        args = [
            "run", "--select", "+int_as_of_range", "--full-refresh",
            "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR),
            "--target-path", str(tmp_path / "target"), "--log-path", str(tmp_path / "logs"), "--quiet",
        ]  # fmt: skip
        if reference:
            args += ["--vars", json.dumps({"reference_date": reference})]
        result = dbtRunner().invoke(args)
        release_duckdb()
        assert result.success, result.exception
        ends.append(_rows(warehouse, "select as_of_end from intermediate.int_as_of_range")[0][0])
    assert ends == [dt.date(2099, 1, 1), dt.date(2026, 4, 30)]  # without the cap it would move
