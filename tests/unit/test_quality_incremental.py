"""Quality gates proportional to new data: a run validates only the load batches not validated
before (and those still failing with an error), staleness looks at the whole table, and a source
with no new batch repeats its last verdict without GX."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from orchestration.lib.engines.warehouse import connect
from orchestration.lib.quality.outcomes import (
    SCOPE_CARRIED,
    SCOPE_ROWS,
    SCOPE_TABLE,
    ExpectationOutcome,
    SourceQualityResult,
)
from orchestration.lib.quality.policy import COMPLETENESS, ERROR, REFERENTIAL_INTEGRITY, STALENESS
from orchestration.lib.quality.validate import validate_sources
from tests.support.raw_tables import account_row, create_raw_table, insert_raw_rows, ticket_row

NOW = dt.datetime(2026, 11, 10, 12, 0)


def _load(path: Path, source: str, batch: str, rows: list[dict], loaded_at: dt.datetime = NOW) -> None:
    """Append one load batch to a raw table, as the loader does."""
    with connect(path) as con:
        create_raw_table(con, source, replace=False)
        insert_raw_rows(
            con, source, rows, loaded_at=loaded_at, batch=batch, source_file=f"{source}/{batch}.csv"
        )


def _account(i: int | str, **kw) -> dict:
    return account_row(f"a{i}", NOW, **kw)


def _event(event_id: str, account_id: str = "a1", days_ago: float = 1) -> dict:
    return {
        "event_id": event_id,
        "account_id": account_id,
        "user_id": "u1",
        "feature": "login",
        "event_at": NOW - dt.timedelta(days=days_ago),
        "quantity": 1.0,
        "received_at": NOW,
    }


def _ticket(ticket_id: str, account_id: str) -> dict:
    return ticket_row(ticket_id, account_id, NOW)


def _get(result: SourceQualityResult, check_name: str) -> ExpectationOutcome:
    return next(r for r in result.results if r.check_name == check_name)


def _validate(path: Path, sources: list[str], run_id: str, **kw) -> dict[str, SourceQualityResult]:
    return validate_sources(path, sources, now=NOW, run_id=run_id, **kw)


@pytest.fixture
def warehouse(tmp_path: Path) -> Path:
    path = tmp_path / "wh.duckdb"
    _load(path, "accounts", "acc-1", [_account(1), _account(2)])
    _load(path, "usage_events", "ev-1", [_event("e1"), _event("e2"), _event("e3")])
    return path


def test_only_new_batches_are_validated_and_a_key_from_an_earlier_load_is_no_duplicate(
    warehouse: Path,
) -> None:
    first = _validate(warehouse, ["accounts", "usage_events"], "r1")["usage_events"]
    assert [b.batch_id for b in first.batches] == ["ev-1"] and first.rows_validated == 3
    assert first.success and first.ran_gx

    # A second file: one clean event, one reusing e2 from the first file, one orphan account.
    _load(warehouse, "usage_events", "ev-2", [_event("e4"), _event("e2"), _event("e5", "ghost")])
    second = _validate(warehouse, ["usage_events"], "r2")["usage_events"]
    assert [b.batch_id for b in second.batches] == ["ev-2"]
    rows = [r for r in second.results if r.category != STALENESS]
    assert {r.scope for r in rows} == {SCOPE_ROWS} and {r.rows_checked for r in rows} == {3}
    # e2 again in a later file is a re-delivery (staging keeps the latest load), not a duplicate:
    # uniqueness is checked per load (issue 20: a routine re-export must not fail the gates)
    dup = _get(second, "usage_events.uniqueness.unique.event_id")
    assert dup.success and not dup.unexpected_count
    orphans = _get(second, "usage_events.referential_integrity.no_orphans.account_id")
    assert orphans.unexpected_count == 1 and orphans.failing_sample == [
        {"event_id": "e5", "account_id": "ghost"}
    ]
    # 1 orphan in 3 new rows is above 1%: the rate is judged on the new rows, an error.
    assert second.category_outcome(REFERENTIAL_INTEGRITY) == (False, ERROR)
    assert second.batches[0].verdict == ERROR
    # Staleness is a fact of the whole table.
    fresh = _get(second, "usage_events.staleness.fresh.event_at")
    assert fresh.scope == SCOPE_TABLE and fresh.rows_checked == 6

    with connect(warehouse, read_only=True) as con:
        verdicts = con.execute(
            "select batch_id, verdict, run_id from quality.validated_batches where source = 'usage_events' "
            "order by checked_at, batch_id"
        ).fetchall()
    assert verdicts == [("ev-1", "passed", "r1"), ("ev-2", "error", "r2")]


def test_no_new_batch_repeats_the_last_verdict_without_gx(warehouse: Path) -> None:
    _load(warehouse, "usage_events", "ev-2", [_event("e1"), _event("e1")])  # twice in one file: warning
    first = _validate(warehouse, ["accounts", "usage_events"], "r1")
    again = _validate(warehouse, ["accounts", "usage_events"], "r2")
    for source in ("accounts", "usage_events"):
        assert not again[source].ran_gx and again[source].batches == []
        assert again[source].carried_from_run == "r1"
        assert "no new batches since run r1" in again[source].scope_summary
        before = {(r.check_name, r.success, r.severity, r.unexpected_count) for r in first[source].results}
        after = {(r.check_name, r.success, r.severity, r.unexpected_count) for r in again[source].results}
        assert after == before
    dup = _get(again["usage_events"], "usage_events.uniqueness.unique.event_id")
    assert dup.scope == SCOPE_CARRIED and dup.failing_sample == [{"value": "e1", "count": 2}]
    assert "last verdict failed" in again["usage_events"].scope_summary
    # A third run still carries from r1 (the last run that validated rows), not from r2.
    third = _validate(warehouse, ["usage_events"], "r3")["usage_events"]
    assert third.carried_from_run == "r1"
    with connect(warehouse, read_only=True) as con:
        carried = con.execute(
            "select count(*), count(distinct carried_from_run) from quality.check_results "
            "where run_id = 'r2' and scope = 'carried'"
        ).fetchone()
    assert carried[0] > 0 and carried[1] == 1


def test_an_unresolved_error_keeps_blocking_until_the_rows_are_fixed(warehouse: Path) -> None:
    # a required value missing (written to raw without the loader, which would quarantine it): error
    _load(warehouse, "accounts", "acc-2", [_account(2, account_name=None)])
    first = _validate(warehouse, ["accounts"], "r1")["accounts"]
    assert first.category_outcome(COMPLETENESS) == (False, ERROR)

    # Nothing new arrived, but the error is not forgotten: the batches validated with it (an error
    # is not traced to one batch) are checked again.
    rerun = _validate(warehouse, ["accounts"], "r2")["accounts"]
    assert rerun.ran_gx and [(b.batch_id, b.reopened) for b in rerun.batches] == [
        ("acc-1", True),
        ("acc-2", True),
    ]
    assert rerun.category_outcome(COMPLETENESS) == (False, ERROR)
    assert rerun.carried_from_run is None

    # A clean new batch does not hide it either: both are validated.
    _load(warehouse, "accounts", "acc-3", [_account(3)])
    third = _validate(warehouse, ["accounts"], "r3")["accounts"]
    assert sorted(b.batch_id for b in third.batches) == ["acc-1", "acc-2", "acc-3"]
    assert third.category_outcome(COMPLETENESS) == (False, ERROR)

    # The bad row is removed from raw: the re-check passes and the batches are closed.
    with connect(warehouse) as con:
        con.execute("delete from raw.accounts where _batch_id = 'acc-2'")
    fixed = _validate(warehouse, ["accounts"], "r4")["accounts"]
    assert fixed.success and sorted(b.batch_id for b in fixed.batches) == ["acc-1", "acc-3"]
    quiet = _validate(warehouse, ["accounts"], "r5")["accounts"]
    assert quiet.success and not quiet.ran_gx and quiet.carried_from_run == "r4"


def test_referential_error_clears_when_the_referenced_rows_arrive(warehouse: Path) -> None:
    _load(warehouse, "support_tickets", "t-1", [_ticket("t1", "a1"), _ticket("t2", "a9")])
    first = _validate(warehouse, ["accounts", "support_tickets"], "r1")["support_tickets"]
    assert first.category_outcome(REFERENTIAL_INTEGRITY) == (False, ERROR)
    _load(warehouse, "accounts", "acc-2", [_account(9)])
    second = _validate(warehouse, ["accounts", "support_tickets"], "r2")
    assert [b.batch_id for b in second["accounts"].batches] == ["acc-2"]
    assert second["support_tickets"].batches[0].reopened
    assert second["support_tickets"].category_outcome(REFERENTIAL_INTEGRITY)[0]


def test_reloaded_batch_and_full_mode_validate_again(warehouse: Path) -> None:
    _validate(warehouse, ["usage_events"], "r1")
    assert _validate(warehouse, ["usage_events"], "r2")["usage_events"].batches == []
    full = _validate(warehouse, ["usage_events"], "r3", incremental=False)["usage_events"]
    assert [b.batch_id for b in full.batches] == ["ev-1"] and full.ran_gx
    # The raw table rebuilt from the same file: same batch id, new load time, validated again.
    with connect(warehouse) as con:
        con.execute("update raw.usage_events set _loaded_at = _loaded_at + interval 1 day")
    again = _validate(warehouse, ["usage_events"], "r4")["usage_events"]
    assert [b.batch_id for b in again.batches] == ["ev-1"]


@pytest.mark.parametrize(
    ("source", "newest_days_ago", "stale"),
    [("usage_events", 1, False), ("usage_events", 5, True), ("invoices", 10, False), ("invoices", 60, True)],
)
def test_staleness_without_gx_agrees_with_gx(
    tmp_path: Path, source: str, newest_days_ago: int, stale: bool
) -> None:
    path = tmp_path / "wh.duckdb"
    if source == "usage_events":
        rows = [_event("e1", days_ago=newest_days_ago), _event("e2", days_ago=newest_days_ago + 3)]
    else:
        issued = (NOW - dt.timedelta(days=newest_days_ago)).date()
        rows = [
            {
                "invoice_id": "i1",
                "account_id": "a1",
                "amount": 10.0,
                "currency": "EUR",
                "issued_at": issued,
                "due_date": issued + dt.timedelta(days=30),
                "status": "open",
            }
        ]
    _load(path, "accounts", "acc-1", [_account(1)])
    with connect(path) as con:
        create_raw_table(con, "subscriptions", replace=False)  # referenced by invoices
    _load(path, source, "b1", rows)
    with_gx = _validate(path, [source], "r1")[source]
    without = _validate(path, [source], "r2")[source]
    assert with_gx.ran_gx and not without.ran_gx
    keys = ("check_name", "success", "severity", "observed_value", "failing_sample", "expectation")
    for a, b in zip(with_gx.category(STALENESS), without.category(STALENESS), strict=True):
        assert {k: getattr(a, k) for k in keys} == {k: getattr(b, k) for k in keys}
    assert with_gx.category_outcome(STALENESS)[0] is not stale
