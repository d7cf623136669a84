"""Persist validation results: `quality.check_results` (one row per expectation) and
`quality.validated_batches` (one row per load batch verdict)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from orchestration.lib.engines.dialect import create_table_sql
from orchestration.lib.engines.factory import open_engine
from orchestration.lib.quality.outcomes import BATCHES_TABLE, RESULTS_TABLE, SourceQualityResult
from orchestration.lib.quality.rules import plan_rules, rules_hash

RESULTS_DDL = f"""
create schema if not exists quality;
create table if not exists {RESULTS_TABLE} (
    check_name varchar not null,
    source varchar not null,
    category varchar not null,
    expectation varchar not null,
    column_name varchar,
    severity varchar not null,
    passed boolean not null,
    observed_value varchar,
    unexpected_count bigint,
    failing_sample varchar,
    run_id varchar not null,
    checked_at timestamp not null,
    scope varchar,
    rows_checked bigint,
    carried_from_run varchar
);
alter table {RESULTS_TABLE} add column if not exists scope varchar;
alter table {RESULTS_TABLE} add column if not exists rows_checked bigint;
alter table {RESULTS_TABLE} add column if not exists carried_from_run varchar;
create table if not exists {BATCHES_TABLE} (
    source varchar not null,
    batch_id varchar not null,
    loaded_at timestamp,
    rows_validated bigint not null,
    verdict varchar not null,
    reopened boolean not null,
    rules_hash varchar not null,
    run_id varchar not null,
    checked_at timestamp not null
);
"""
RESULTS_COLUMNS = """
    check_name varchar not null, source varchar not null, category varchar not null,
    expectation varchar not null, column_name varchar, severity varchar not null,
    passed boolean not null, observed_value varchar, unexpected_count bigint,
    failing_sample varchar, run_id varchar not null, checked_at timestamp not null,
    scope varchar, rows_checked bigint, carried_from_run varchar
"""
BATCHES_COLUMNS = """
    source varchar not null, batch_id varchar not null, loaded_at timestamp,
    rows_validated bigint not null, verdict varchar not null, reopened boolean not null,
    rules_hash varchar not null, run_id varchar not null, checked_at timestamp not null
"""
RESULT_COLUMNS = (
    "check_name, source, category, expectation, column_name, severity, passed, observed_value, "
    "unexpected_count, failing_sample, run_id, checked_at, scope, rows_checked, carried_from_run"
)


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else json.dumps(value)


def write_results(
    warehouse_path: Path | str,
    results: Iterable[SourceQualityResult],
    *,
    rules_hashes: dict[str, str] | None = None,
    engine: str | None = None,
) -> int:
    """Append result rows to quality.check_results and the batch verdicts to
    quality.validated_batches (created when missing), in one transaction. Returns result rows written."""
    results = list(results)
    rows = [
        (
            o.check_name,
            o.source,
            o.category,
            o.expectation,
            o.column,
            o.severity,
            o.success,
            _text(o.observed_value),
            o.unexpected_count,
            json.dumps(o.failing_sample),
            r.run_id,
            r.checked_at,
            o.scope,
            o.rows_checked,
            o.carried_from_run,
        )
        for r in results
        for o in r.results
    ]
    batches = [
        (
            r.source,
            b.batch_id,
            b.loaded_at,
            b.rows,
            b.verdict,
            b.reopened,
            (rules_hashes or {}).get(r.source) or rules_hash(plan_rules(r.source)),
            r.run_id,
            r.checked_at,
        )
        for r in results
        for b in r.batches
    ]
    with open_engine(engine, duckdb_path=warehouse_path) as con:
        if con.name == "duckdb":
            con.execute(RESULTS_DDL)
        else:  # a new warehouse: the current columns (no migration of older layouts)
            con.create_schema("quality")
            con.execute(create_table_sql(con.dialect, RESULTS_TABLE, RESULTS_COLUMNS))
            con.execute(create_table_sql(con.dialect, BATCHES_TABLE, BATCHES_COLUMNS))
        con.begin()
        try:
            _append(con, RESULTS_TABLE, RESULT_COLUMNS.split(", "), rows)
            _append(con, BATCHES_TABLE, con.columns(BATCHES_TABLE), batches)
            con.commit()
        except BaseException:
            con.rollback()
            raise
    return len(rows)


def _append(con: Any, table: str, columns: Sequence[str], rows: list[tuple]) -> None:
    if not rows:
        return
    if con.name == "spark":
        import pyarrow as pa

        data = pa.Table.from_pylist([dict(zip(columns, r, strict=True)) for r in rows])
        con.append_arrow(table, data.to_batches())
    else:
        con.executemany(
            f"insert into {table} ({', '.join(columns)}) values ({', '.join('?' * len(columns))})", rows
        )
