"""Quality gates (orchestration/lib/quality.py): rules, suites, in-warehouse validation, results table."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import pytest

from orchestration.lib import quality
from orchestration.lib.contracts import CONTRACTS, LOAD_METADATA_COLUMNS
from orchestration.lib.warehouse import connect, quote_ident

NOW = dt.datetime(2026, 11, 10, 12, 0)


def _create_raw(con, source: str, rows: list[dict]) -> None:
    """A raw table as the loader writes it: contract columns + load metadata."""
    contract = CONTRACTS[source]
    cols = [(c.name, c.type) for c in contract.columns] + [(n, t) for n, t, _ in LOAD_METADATA_COLUMNS]
    con.execute("create schema if not exists raw")
    ddl = ", ".join(f"{quote_ident(n)} {t}" for n, t in cols)
    con.execute(f"create or replace table raw.{quote_ident(source)} ({ddl})")
    if not rows:
        return
    names = list(dict.fromkeys(k for r in rows for k in r))
    meta = ["_batch_id", "_source_file", "_file_checksum", "_row_number", "_loaded_at"]
    values = [
        [r.get(n) for n in names] + ["b1", f"{source}/f.csv", "0" * 64, i, NOW]
        for i, r in enumerate(rows, start=1)
    ]
    cols_sql = ", ".join(quote_ident(n) for n in [*names, *meta])
    marks = ", ".join("?" for _ in [*names, *meta])
    con.executemany(f"insert into raw.{quote_ident(source)} ({cols_sql}) values ({marks})", values)


def _account(i: int, **kw) -> dict:
    row = {
        "account_id": f"a{i}",
        "account_name": f"Acme {i}",
        "segment": "SMB",
        "industry": "software",
        "country": "DE",
        "owner": "olga",
        "parent_account_id": None,
        "created_at": NOW - dt.timedelta(days=30),
    }
    return row | kw


def _ticket(i: int, account_id: str, **kw) -> dict:
    row = {
        "ticket_id": f"t{i}",
        "account_id": account_id,
        "opened_at": NOW - dt.timedelta(days=2),
        "closed_at": NOW - dt.timedelta(days=1),
        "priority": "high",
        "status": "solved",
        "csat_score": 4,
        "subject": "s",
        "body": "b",
    }
    return row | kw


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
        # accounts: a duplicate key (error for accounts) and a bad segment (validity error).
        _create_raw(con, "accounts", [_account(1), _account(2), _account(2), _account(3, segment="Galaxy")])
        # usage_events: newest event 5 days old, limit 3 days, severity error; a duplicate event_id.
        _create_raw(
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
        )
        # support_tickets: 1 orphan of 3 rows (> 1%: error) and closed before opened.
        _create_raw(
            con,
            "support_tickets",
            [
                _ticket(1, "a1"),
                _ticket(2, "ghost-account"),
                _ticket(3, "a2", closed_at=NOW - dt.timedelta(days=5)),
            ],
        )
        # invoices: 1 orphan of 200 rows (<= 1%: warn only).
        _create_raw(con, "invoices", [_invoice(i, "a1") for i in range(199)] + [_invoice(999, "lost")])
        # subscriptions: empty (invoices.subscription_id references it).
        _create_raw(con, "subscriptions", [])
        # outcomes: empty. social_mentions: no table at all.
        _create_raw(con, "outcomes", [])
    return path


@pytest.fixture(scope="module")
def results(warehouse: Path) -> dict[str, quality.SourceQualityResult]:
    return quality.validate_sources(
        warehouse,
        ["accounts", "usage_events", "support_tickets", "invoices", "outcomes", "social_mentions"],
        now=NOW,
        run_id="test-run",
    )


def _get(result: quality.SourceQualityResult, check_name: str) -> quality.ExpectationOutcome:
    matches = [r for r in result.results if r.check_name == check_name]
    assert matches, f"no {check_name} in {[r.check_name for r in result.results]}"
    return matches[0]


# --- rules (no GX) ---------------------------------------------------------------------------


def test_every_source_has_every_category_and_unique_check_names() -> None:
    for source in CONTRACTS:
        rules = quality.plan_rules(source)
        names = [r.check_name for r in rules]
        assert len(names) == len(set(names))
        cats = {r.category for r in rules}
        expected = set(quality.CATEGORIES)
        if not any(c.references for c in CONTRACTS[source].columns):
            expected.discard(quality.REFERENTIAL_INTEGRITY)
        if source == "social_mentions":  # no allowed values, ranges or cross-field rules
            expected.discard(quality.VALIDITY)
        assert expected <= cats, source


def test_severity_policy() -> None:
    def sev(source: str, check: str) -> str:
        return next(r.severity for r in quality.plan_rules(source) if r.check_name == check)

    assert sev("usage_events", "usage_events.staleness.fresh.event_at") == quality.ERROR
    assert sev("support_tickets", "support_tickets.staleness.fresh.opened_at") == quality.WARN
    assert sev("accounts", "accounts.uniqueness.unique.account_id") == quality.ERROR
    assert sev("usage_events", "usage_events.uniqueness.unique.event_id") == quality.WARN
    assert sev("invoices", "invoices.completeness.not_null.amount") == quality.ERROR
    assert sev("support_tickets", "support_tickets.completeness.mostly_filled.subject") == quality.WARN
    # Optional columns that are sparse by nature (no min_fill in the contract) are not checked.
    assert not [r for r in quality.plan_rules("invoices") if r.check_name.endswith("mostly_filled.paid_at")]
    assert sev("invoices", "invoices.referential_integrity.no_orphans.account_id") == quality.WARN
    assert sev("invoices", "invoices.referential_integrity.orphan_rate.account_id") == quality.ERROR
    assert sev("support_tickets", "support_tickets.validity.in_range.csat_score") == quality.ERROR
    assert sev("support_tickets", "support_tickets.validity.in_set.priority") == quality.WARN


def test_committed_suites_match_contracts() -> None:
    """expectations/suites/*.json are generated: regenerate with `python -m orchestration.lib.quality`."""
    for source in CONTRACTS:
        path = quality.SUITES_DIR / f"{source}.json"
        assert path.exists(), f"missing {path}; run python -m orchestration.lib.quality"
        assert json.loads(path.read_text()) == json.loads(json.dumps(quality.suite_json(source))), (
            f"{path} is stale; run python -m orchestration.lib.quality"
        )


# --- validation in the warehouse -------------------------------------------------------------


def test_stale_usage_events_is_an_error(results) -> None:
    r = _get(results["usage_events"], "usage_events.staleness.fresh.event_at")
    assert not r.success
    assert r.severity == quality.ERROR
    assert r.observed_value == (NOW - dt.timedelta(days=5)).isoformat()
    assert r.failing_sample[0]["stale_before"] == (NOW - dt.timedelta(days=3)).isoformat()
    assert results["usage_events"].category_outcome(quality.STALENESS) == (False, quality.ERROR)


def test_fresh_when_reference_time_is_earlier(warehouse: Path) -> None:
    res = quality.validate_source(warehouse, "usage_events", now=NOW - dt.timedelta(days=6), persist=False)
    assert res.category_outcome(quality.STALENESS)[0]
    # A timezone-aware reference time is converted to UTC.
    aware = (NOW - dt.timedelta(days=6)).replace(tzinfo=dt.UTC).astimezone(dt.timezone(dt.timedelta(hours=5)))
    res = quality.validate_source(warehouse, "usage_events", now=aware, persist=False)
    assert res.category_outcome(quality.STALENESS)[0]


def test_empty_and_missing_tables_are_stale(results) -> None:
    empty = results["outcomes"]
    assert not _get(empty, "outcomes.staleness.not_empty").success
    assert empty.category_outcome(quality.STALENESS) == (False, quality.WARN)  # outcomes: warn
    missing = results["social_mentions"]
    assert not missing.success
    assert {r.category for r in missing.results} == set(quality.CATEGORIES)
    assert all(r.severity == quality.ERROR for r in missing.results)


def test_orphans_found_with_the_bad_key(results) -> None:
    tickets = results["support_tickets"]
    any_orphan = _get(tickets, "support_tickets.referential_integrity.no_orphans.account_id")
    rate = _get(tickets, "support_tickets.referential_integrity.orphan_rate.account_id")
    assert not any_orphan.success and not rate.success
    assert any_orphan.unexpected_count == 1
    assert any_orphan.failing_sample == [{"ticket_id": "t2", "account_id": "ghost-account"}]
    assert tickets.category_outcome(quality.REFERENTIAL_INTEGRITY) == (False, quality.ERROR)

    invoices = results["invoices"]  # 1 orphan in 200 rows: warn, not error
    assert not _get(invoices, "invoices.referential_integrity.no_orphans.account_id").success
    assert _get(invoices, "invoices.referential_integrity.orphan_rate.account_id").success
    assert invoices.category_outcome(quality.REFERENTIAL_INTEGRITY) == (False, quality.WARN)
    sample = _get(invoices, "invoices.referential_integrity.no_orphans.account_id").failing_sample
    assert sample == [{"invoice_id": "i999", "account_id": "lost"}]


def test_duplicate_keys(results) -> None:
    acc = _get(results["accounts"], "accounts.uniqueness.unique.account_id")
    assert not acc.success and acc.severity == quality.ERROR
    assert acc.unexpected_count == 2
    assert acc.failing_sample == [{"value": "a2", "count": 2}]
    ev = _get(results["usage_events"], "usage_events.uniqueness.unique.event_id")
    assert not ev.success and ev.severity == quality.WARN


def test_validity(results) -> None:
    seg = _get(results["accounts"], "accounts.validity.in_set.segment")
    assert not seg.success and seg.severity == quality.ERROR
    assert seg.failing_sample == [{"account_id": "a3", "segment": "Galaxy"}]
    closed = _get(results["support_tickets"], "support_tickets.validity.closed_at_not_before_opened_at")
    assert not closed.success and closed.severity == quality.WARN
    assert closed.unexpected_count == 1
    assert closed.failing_sample[0]["ticket_id"] == "t3"
    assert _get(results["invoices"], "invoices.validity.due_date_not_before_issued_at").success
    # Required columns are complete; the optional subscription_id is empty, which its contract
    # allows (no min_fill), so completeness passes.
    completeness = results["invoices"].category(quality.COMPLETENESS)
    assert completeness and all(r.success for r in completeness)
    assert results["invoices"].category_outcome(quality.COMPLETENESS)[0] is True


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
    original = quality._cap_duckdb

    def recording(dbapi_connection, record) -> None:
        original(dbapi_connection, record)
        seen.append(dbapi_connection.execute("select current_setting('memory_limit')").fetchone()[0])

    monkeypatch.setattr(quality, "_cap_duckdb", recording)
    try:
        res = quality.validate_source(warehouse, "usage_events", now=NOW, persist=False, incremental=False)
    finally:  # the hook is process-wide: do not leave the recording one behind for other tests
        if event.contains(Engine, "connect", recording):
            event.remove(Engine, "connect", recording)
    assert res.ran_gx
    assert seen, "GX opened no DuckDB connection through SQLAlchemy"
    assert set(seen) == {"117.3 MiB"}  # 123 MB as DuckDB reports it
