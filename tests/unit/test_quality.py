"""Quality gates (orchestration/lib/quality/): rules, suites, in-warehouse validation, results table."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import pytest

from orchestration.lib.contracts.sources import CONTRACTS
from orchestration.lib.engines.warehouse import connect
from orchestration.lib.quality import validate as quality_validate
from orchestration.lib.quality.outcomes import ExpectationOutcome, SourceQualityResult
from orchestration.lib.quality.policy import (
    CATEGORIES,
    COMPLETENESS,
    ERROR,
    REFERENTIAL_INTEGRITY,
    STALENESS,
    VALIDITY,
    WARN,
)
from orchestration.lib.quality.rules import plan_rules
from orchestration.lib.quality.suites import SUITES_DIR, suite_json
from orchestration.lib.quality.validate import validate_source, validate_sources
from tests.support.raw_tables import account_row, create_raw, ticket_row

NOW = dt.datetime(2026, 11, 10, 12, 0)


def _account(i: int, **kw) -> dict:
    return account_row(f"a{i}", NOW, **kw)


def _ticket(i: int, account_id: str, **kw) -> dict:
    return ticket_row(f"t{i}", account_id, NOW, **kw)


def _invoice(i: int, account_id: str) -> dict:
    return {
        "invoice_id": f"i{i}",
        "account_id": account_id,
        "subscription_id": None,
        "amount": 100.0,
        "currency": "EUR",
        "issued_at": dt.date(2026, 11, 1),
        "due_date": dt.date(2026, 12, 1),
        "paid_at": dt.date(2026, 11, 5),
        "status": "paid",
    }


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("quality") / "wh.duckdb"
    with connect(path) as con:
        # accounts: a duplicate key within one load (warn) and a bad segment (validity error).
        create_raw(
            con,
            "accounts",
            [_account(1), _account(2), _account(2), _account(3, segment="Galaxy")],
            loaded_at=NOW,
        )
        # usage_events: newest event 5 days old, limit 3 days, severity error; a duplicate event_id.
        create_raw(
            con,
            "usage_events",
            [
                {
                    "event_id": eid,
                    "account_id": "a1",
                    "user_id": "u1",
                    "feature": "login",
                    "event_at": NOW - dt.timedelta(days=days),
                    "quantity": 1.0,
                    "received_at": NOW,
                }
                for eid, days in [("e1", 5), ("e2", 6), ("e2", 7)]
            ],
            loaded_at=NOW,
        )
        # support_tickets: 1 orphan of 3 rows (> 1%: error) and closed before opened.
        create_raw(
            con,
            "support_tickets",
            [
                _ticket(1, "a1"),
                _ticket(2, "ghost-account"),
                _ticket(3, "a2", closed_at=NOW - dt.timedelta(days=5)),
            ],
            loaded_at=NOW,
        )
        # invoices: 1 orphan of 200 rows (<= 1%: warn only).
        create_raw(
            con, "invoices", [_invoice(i, "a1") for i in range(199)] + [_invoice(999, "lost")], loaded_at=NOW
        )
        # subscriptions: empty (invoices.subscription_id references it).
        create_raw(con, "subscriptions", [], loaded_at=NOW)
        # outcomes: empty. social_mentions: no table at all.
        create_raw(con, "outcomes", [], loaded_at=NOW)
    return path


@pytest.fixture(scope="module")
def results(warehouse: Path) -> dict[str, SourceQualityResult]:
    return validate_sources(
        warehouse,
        ["accounts", "usage_events", "support_tickets", "invoices", "outcomes", "social_mentions"],
        now=NOW,
        run_id="test-run",
    )


def _get(result: SourceQualityResult, check_name: str) -> ExpectationOutcome:
    matches = [r for r in result.results if r.check_name == check_name]
    assert matches, f"no {check_name} in {[r.check_name for r in result.results]}"
    return matches[0]


# --- rules (no GX) ---------------------------------------------------------------------------


def test_every_source_has_every_category_and_unique_check_names() -> None:
    for source in CONTRACTS:
        rules = plan_rules(source)
        names = [r.check_name for r in rules]
        assert len(names) == len(set(names))
        cats = {r.category for r in rules}
        expected = set(CATEGORIES)
        if not any(c.references for c in CONTRACTS[source].columns):
            expected.discard(REFERENTIAL_INTEGRITY)
        # no allowed values, ranges or cross-field rules (segments are free text)
        if source in ("social_mentions", "account_metrics", "accounts"):
            expected.discard(VALIDITY)
        assert expected <= cats, source


def test_severity_policy() -> None:
    def sev(source: str, check: str) -> str:
        return next(r.severity for r in plan_rules(source) if r.check_name == check)

    assert sev("usage_events", "usage_events.staleness.fresh.event_at") == ERROR
    assert sev("support_tickets", "support_tickets.staleness.fresh.opened_at") == WARN
    # a key twice in one file is a warning (staging keeps the file's last row); never blocking
    assert sev("accounts", "accounts.uniqueness.unique.account_id") == WARN
    assert sev("usage_events", "usage_events.uniqueness.unique.event_id") == WARN
    assert sev("invoices", "invoices.completeness.not_null.amount") == ERROR
    assert sev("support_tickets", "support_tickets.completeness.mostly_filled.subject") == WARN
    # Optional columns that are sparse by nature (no min_fill in the contract) are not checked.
    assert not [r for r in plan_rules("invoices") if r.check_name.endswith("mostly_filled.paid_at")]
    assert sev("invoices", "invoices.referential_integrity.no_orphans.account_id") == WARN
    assert sev("invoices", "invoices.referential_integrity.orphan_rate.account_id") == ERROR
    assert sev("support_tickets", "support_tickets.validity.in_range.csat_score") == ERROR
    assert sev("support_tickets", "support_tickets.validity.in_set.priority") == WARN


def test_committed_suites_match_contracts() -> None:
    """expectations/suites/*.json are generated: regenerate with `python -m orchestration.lib.quality`."""
    for source in CONTRACTS:
        path = SUITES_DIR / f"{source}.json"
        assert path.exists(), f"missing {path}; run python -m orchestration.lib.quality"
        assert json.loads(path.read_text()) == json.loads(json.dumps(suite_json(source))), (
            f"{path} is stale; run python -m orchestration.lib.quality"
        )


# --- validation in the warehouse -------------------------------------------------------------


def test_stale_usage_events_is_an_error(results) -> None:
    r = _get(results["usage_events"], "usage_events.staleness.fresh.event_at")
    assert not r.success
    assert r.severity == ERROR
    assert r.observed_value == (NOW - dt.timedelta(days=5)).isoformat()
    assert r.failing_sample[0]["stale_before"] == (NOW - dt.timedelta(days=3)).isoformat()
    assert results["usage_events"].category_outcome(STALENESS) == (False, ERROR)


def test_fresh_when_reference_time_is_earlier(warehouse: Path) -> None:
    res = validate_source(warehouse, "usage_events", now=NOW - dt.timedelta(days=6), persist=False)
    assert res.category_outcome(STALENESS)[0]
    # A timezone-aware reference time is converted to UTC.
    aware = (NOW - dt.timedelta(days=6)).replace(tzinfo=dt.UTC).astimezone(dt.timezone(dt.timedelta(hours=5)))
    res = validate_source(warehouse, "usage_events", now=aware, persist=False)
    assert res.category_outcome(STALENESS)[0]


def test_empty_and_missing_tables_are_stale(results) -> None:
    empty = results["outcomes"]
    assert not _get(empty, "outcomes.staleness.not_empty").success
    assert empty.category_outcome(STALENESS) == (False, WARN)  # outcomes: warn
    missing = results["social_mentions"]
    assert not missing.success
    assert {r.category for r in missing.results} == set(CATEGORIES)
    assert all(r.severity == ERROR for r in missing.results)


def test_orphans_found_with_the_bad_key(results) -> None:
    tickets = results["support_tickets"]
    any_orphan = _get(tickets, "support_tickets.referential_integrity.no_orphans.account_id")
    rate = _get(tickets, "support_tickets.referential_integrity.orphan_rate.account_id")
    assert not any_orphan.success and not rate.success
    assert any_orphan.unexpected_count == 1
    assert any_orphan.failing_sample == [{"ticket_id": "t2", "account_id": "ghost-account"}]
    assert tickets.category_outcome(REFERENTIAL_INTEGRITY) == (False, ERROR)

    invoices = results["invoices"]  # 1 orphan in 200 rows: warn, not error
    assert not _get(invoices, "invoices.referential_integrity.no_orphans.account_id").success
    assert _get(invoices, "invoices.referential_integrity.orphan_rate.account_id").success
    assert invoices.category_outcome(REFERENTIAL_INTEGRITY) == (False, WARN)
    sample = _get(invoices, "invoices.referential_integrity.no_orphans.account_id").failing_sample
    assert sample == [{"invoice_id": "i999", "account_id": "lost"}]


def test_duplicate_keys(results) -> None:
    acc = _get(results["accounts"], "accounts.uniqueness.unique.account_id")
    assert not acc.success and acc.severity == WARN  # both rows in one load (no batch id here)
    assert acc.unexpected_count == 2
    assert acc.failing_sample == [{"value": "a2", "count": 2}]
    ev = _get(results["usage_events"], "usage_events.uniqueness.unique.event_id")
    assert not ev.success and ev.severity == WARN


def test_validity(results) -> None:
    # segments are not limited to a fixed set (a3's "Galaxy" is a segment like any other)
    assert not [r for r in results["accounts"].results if ".validity.in_set.segment" in r.check_name]
    closed = _get(results["support_tickets"], "support_tickets.validity.closed_at_not_before_opened_at")
    assert not closed.success and closed.severity == WARN
    assert closed.unexpected_count == 1
    assert closed.failing_sample[0]["ticket_id"] == "t3"
    assert _get(results["invoices"], "invoices.validity.due_date_not_before_issued_at").success
    # Required columns are complete; the optional subscription_id is empty, which its contract
    # allows (no min_fill), so completeness passes.
    completeness = results["invoices"].category(COMPLETENESS)
    assert completeness and all(r.success for r in completeness)
    assert results["invoices"].category_outcome(COMPLETENESS)[0] is True


def test_results_table_and_lock_released(warehouse: Path, results) -> None:
    # Another process can take the write lock: GX's engines were disposed.
    code = (
        "import duckdb, sys; c = duckdb.connect(sys.argv[1]); "
        "print(c.execute(\"select count(*) from quality.check_results where run_id = 'test-run'\").fetchone()[0])"
    )
    out = subprocess.run([sys.executable, "-c", code, str(warehouse)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    expected = sum(len(r.results) for r in results.values())
    assert int(out.stdout) == expected
    with connect(warehouse) as con:
        row = con.execute(
            "select severity, passed, unexpected_count, failing_sample, observed_value from quality.check_results "
            "where check_name = 'support_tickets.referential_integrity.no_orphans.account_id'"
        ).fetchone()
    assert row[:3] == ("warn", False, 1)
    assert json.loads(row[3]) == [{"ticket_id": "t2", "account_id": "ghost-account"}]


def test_gx_connections_get_the_pipeline_memory_cap(warehouse: Path, monkeypatch) -> None:
    """GX's own SQLAlchemy connections run under HEALTHSCORE_DUCKDB_MEMORY_LIMIT, not DuckDB's 80 % of RAM."""
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    monkeypatch.setenv("HEALTHSCORE_DUCKDB_MEMORY_LIMIT", "123MB")
    seen: list[str] = []
    original = quality_validate._cap_duckdb

    def recording(dbapi_connection, record) -> None:
        original(dbapi_connection, record)
        seen.append(dbapi_connection.execute("select current_setting('memory_limit')").fetchone()[0])

    monkeypatch.setattr(quality_validate, "_cap_duckdb", recording)
    try:
        res = validate_source(warehouse, "usage_events", now=NOW, persist=False, incremental=False)
    finally:  # the hook is process-wide: do not leave the recording one behind for other tests
        if event.contains(Engine, "connect", recording):
            event.remove(Engine, "connect", recording)
    assert res.ran_gx
    assert seen, "GX opened no DuckDB connection through SQLAlchemy"
    assert set(seen) == {"117.3 MiB"}  # 123 MB as DuckDB reports it
