"""`healthscore dq` as a data-quality reviewer reads it: from a failed check to its rows.

A small warehouse with a duplicated event id and an orphan account id in raw.usage_events and
two quarantined rows; the review must name the files and row numbers, count correctly, print
the whole sample, give queries that return exactly the flagged rows, say that warnings were
loaded anyway, and refuse an unknown source.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import duckdb
import pytest

from orchestration.cli import main
from orchestration.lib.ingest.loader import ensure_raw_schema
from orchestration.lib.quality.results import RESULTS_DDL
from orchestration.lib.quality.review import format_report, review
from tests.support.raw_tables import create_raw, insert_raw_rows

LOADED = dt.datetime(2026, 3, 3, 4, 0)
SAMPLE = [{"value": "e2", "count": 2}]


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("dq") / "wh.duckdb"
    with duckdb.connect(str(path)) as con:
        ensure_raw_schema(con)
        con.execute(RESULTS_DDL)
        create_raw(con, "accounts", [{"account_id": "ACC-1"}], loaded_at=LOADED)
        create_raw(
            con,
            "usage_events",
            [
                {"event_id": "e1", "account_id": "ACC-1"},
                {"event_id": "e2", "account_id": "ACC-1"},
                {"event_id": "e2", "account_id": "ACC-1"},
                {"event_id": "e3", "account_id": "ACC-404"},
            ],
            loaded_at=LOADED,
        )
        insert_raw_rows(con, "usage_events", [{"event_id": "e4", "account_id": "ACC-1"}], loaded_at=LOADED,
                        batch="b2", source_file="usage_events/later.csv")  # fmt: skip
        con.execute(
            """insert into quality.check_results (check_name, source, category, expectation, column_name,
                severity, passed, observed_value, unexpected_count, failing_sample, run_id, checked_at,
                scope, rows_checked) values
            ('usage_events.uniqueness.unique.event_id', 'usage_events', 'uniqueness',
             'unexpected_rows_expectation', 'event_id', 'warn', false, '2', 2, ?, 'q1',
             timestamp '2026-03-03 05:00:00', 'rows', 5),
            ('usage_events.referential_integrity.no_orphans.account_id', 'usage_events',
             'referential_integrity', 'unexpected_rows_expectation', 'account_id', 'warn', false, '1', 1,
             '[{"event_id": "e3", "account_id": "ACC-404"}]', 'q1', timestamp '2026-03-03 05:00:00', 'rows', 5),
            ('usage_events.completeness.not_null.event_id', 'usage_events', 'completeness',
             'expect_column_values_to_not_be_null', 'event_id', 'error', true, '0.0', 0, '[]', 'q1',
             timestamp '2026-03-03 05:00:00', 'rows', 5)""",
            [json.dumps(SAMPLE * 2)],
        )
        con.execute(
            """insert into raw._quarantine values
            ('b1', 'usage_events', 'usage_events/f.csv', 7, 'account_id', 'required value is missing',
             '{"event_id": "e9", "account_id": null, "feature": "a very long feature name that must not be cut at all"}',
             timestamp '2026-03-03 04:00:00'),
            ('b1', 'usage_events', 'usage_events/f.csv', 12, 'account_id', 'required value is missing',
             '{"event_id": "e10", "account_id": null}', timestamp '2026-03-03 04:00:00')"""
        )
    return path


def test_review_names_files_rows_counts_and_queries(warehouse: Path) -> None:
    report = review(warehouse)
    text = format_report(report, warehouse=warehouse)
    assert report.exit_code == 0 and "0 with error severity" in text and "2 with warning severity" in text
    assert "2 rows failed of 5 checked (40.00%)" in text and "observed 2" not in text
    assert "not blocking: these rows were loaded and scored anyway" in text
    assert text.count('{"value": "e2", "count": 2}') == 2  # the whole sample, one line each
    assert "in usage_events/f.csv rows 7, 12" in text
    assert "a very long feature name that must not be cut at all" in text
    with duckdb.connect(str(warehouse), read_only=True) as con:
        by_check = {f["check_name"]: f["query"] for f in report.failed}
        dups = con.execute(by_check["usage_events.uniqueness.unique.event_id"]).fetchall()
        assert [(r[0], r[1]) for r in dups] == [("usage_events/f.csv", 2), ("usage_events/f.csv", 3)]
        orphans = con.execute(by_check["usage_events.referential_integrity.no_orphans.account_id"]).fetchall()
        assert [(r[0], r[1], r[2]) for r in orphans] == [("usage_events/f.csv", 4, "b1")]
        assert len(con.execute(report.quarantine[0]["query"]).fetchall()) == 2


def test_an_unknown_source_is_an_error(warehouse: Path, capsys) -> None:
    assert main(["dq", "--db", str(warehouse), "--source", "nosuch"]) == 2
    err = capsys.readouterr().err
    assert "no source 'nosuch'" in err and "usage_events" in err
