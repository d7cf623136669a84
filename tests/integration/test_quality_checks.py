"""The quality asset checks in real Dagster runs: an ERROR failure blocks downstream, WARN does not."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import dagster as dg
import pytest

from orchestration.defs.quality.checks import build_quality_checks
from orchestration.defs.resources import WarehouseResource
from orchestration.lib import clock
from orchestration.lib.engines.warehouse import connect
from orchestration.lib.quality.policy import CATEGORIES
from tests.support.raw_tables import create_raw

NOW = clock.now()  # the staleness checks' reference time (HEALTHSCORE_TODAY moves both)


def _account(i: int) -> dict:
    return {
        "account_id": f"a{i}",
        "account_name": f"Acme {i}",
        "segment": "SMB",
        "industry": "x",
        "country": "DE",
        "owner": "o",
        "parent_account_id": None,
        "created_at": NOW,
    }


def _event(i: int, days_ago: float) -> dict:
    return {
        "event_id": f"e{i}",
        "account_id": "a1",
        "user_id": "u1",
        "feature": "login",
        "event_at": NOW - dt.timedelta(days=days_ago),
        "quantity": 1.0,
        "received_at": NOW,
    }


def _defs(warehouse: Path, sources: list[str]):
    def make_raw(source: str):
        @dg.asset(key=dg.AssetKey(["raw", source]))
        def _raw() -> None:  # the table was written by the test; the asset only marks it loaded
            assert warehouse.exists()

        return _raw

    raw_assets = [make_raw(s) for s in sources]

    @dg.asset(key="downstream", deps=[dg.AssetKey(["raw", "usage_events"])])
    def downstream() -> int:
        return 1

    return [*raw_assets, downstream, *build_quality_checks(sources)]


def _run(warehouse: Path, monkeypatch, sources: list[str]) -> dg.ExecuteInProcessResult:
    resource = WarehouseResource(warehouse_path=str(warehouse), landing_dir=str(warehouse.parent))
    return dg.materialize(_defs(warehouse, sources), resources={"warehouse": resource}, raise_on_error=False)


def _check_evaluations(result: dg.ExecuteInProcessResult) -> dict[tuple[str, str], dg.AssetCheckEvaluation]:
    return {(e.asset_key.path[-1], e.check_name): e for e in result.get_asset_check_evaluations()}


@pytest.fixture
def warehouse(tmp_path: Path) -> Path:
    path = tmp_path / "wh.duckdb"
    with connect(path) as con:
        create_raw(con, "accounts", [_account(1), _account(2)], loaded_at=NOW)
    return path


def test_error_failure_blocks_downstream(warehouse: Path, monkeypatch) -> None:
    # usage_events is stale (newest event 10 days old, limit 3 days, severity error).
    with connect(warehouse) as con:
        create_raw(con, "usage_events", [_event(1, 10), _event(2, 12)], loaded_at=NOW)
    result = _run(warehouse, monkeypatch, ["accounts", "usage_events"])

    assert not result.success
    planned = [e.asset_key for e in result.get_asset_materialization_events()]
    assert dg.AssetKey("downstream") not in planned
    evals = _check_evaluations(result)
    stale = evals[("usage_events", "staleness")]
    assert not stale.passed
    assert stale.severity == dg.AssetCheckSeverity.ERROR
    assert {c for (s, c) in evals if s == "usage_events"} == set(CATEGORIES)
    # The lock on the warehouse is free again and the results were recorded.
    with connect(warehouse) as con:
        n = con.execute(
            "select count(*) from quality.check_results where source = 'usage_events' and not passed "
            "and category = 'staleness' and severity = 'error' and run_id = ?",
            [result.run_id],
        ).fetchone()[0]
    assert n >= 1


def test_warn_failure_does_not_block(warehouse: Path, monkeypatch) -> None:
    # Fresh events, but a duplicate event_id: uniqueness fails with WARN severity.
    with connect(warehouse) as con:
        create_raw(con, "usage_events", [_event(1, 0.5), _event(1, 1)], loaded_at=NOW)
    result = _run(warehouse, monkeypatch, ["accounts", "usage_events"])

    assert result.success
    planned = [e.asset_key for e in result.get_asset_materialization_events()]
    assert dg.AssetKey("downstream") in planned
    evals = _check_evaluations(result)
    dup = evals[("usage_events", "uniqueness")]
    assert not dup.passed
    assert dup.severity == dg.AssetCheckSeverity.WARN
    assert evals[("usage_events", "staleness")].passed
    assert evals[("accounts", "uniqueness")].passed


def test_rerun_without_new_data_keeps_an_error_blocking_and_repeats_a_pass(
    warehouse: Path, monkeypatch
) -> None:
    # Every event references an account that is not in raw.accounts: orphan rate above 1%, an error.
    with connect(warehouse) as con:
        create_raw(con, "usage_events", [dict(_event(1, 0.5), account_id="ghost")], loaded_at=NOW)
    first = _run(warehouse, monkeypatch, ["accounts", "usage_events"])
    rerun = _run(warehouse, monkeypatch, ["accounts", "usage_events"])
    for result in (first, rerun):
        assert not result.success
        ri = _check_evaluations(result)[("usage_events", "referential_integrity")]
        assert not ri.passed and ri.severity == dg.AssetCheckSeverity.ERROR
    ri = _check_evaluations(rerun)[("usage_events", "referential_integrity")]
    assert "re-checked after an earlier error" in ri.description
    # raw.accounts had nothing new: its checks repeat the first run's verdict, without GX.
    accounts = _check_evaluations(rerun)[("accounts", "uniqueness")]
    assert accounts.passed and "no new batches since run " + first.run_id in accounts.description
    assert accounts.metadata["carried_from_run"].value == first.run_id


def test_an_error_blocks_only_downstream_of_its_own_source(warehouse: Path) -> None:
    # usage_events is stale (error); an asset that reads only raw/accounts still materializes.
    # (Why the checks stay one op per source: one op for all sources fails as a whole.)
    with connect(warehouse) as con:
        create_raw(con, "usage_events", [_event(1, 10)], loaded_at=NOW)

    @dg.asset(key="accounts_downstream", deps=[dg.AssetKey(["raw", "accounts"])])
    def accounts_downstream() -> int:
        return 1

    resource = WarehouseResource(warehouse_path=str(warehouse), landing_dir=str(warehouse.parent))
    result = dg.materialize(
        [*_defs(warehouse, ["accounts", "usage_events"]), accounts_downstream],
        resources={"warehouse": resource},
        raise_on_error=False,
    )
    assert not _check_evaluations(result)[("usage_events", "staleness")].passed
    planned = [e.asset_key for e in result.get_asset_materialization_events()]
    assert dg.AssetKey("accounts_downstream") in planned
    assert dg.AssetKey("downstream") not in planned
