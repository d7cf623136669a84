"""bench-daily's check that the incremental mart equals the full rebuild (benchmarks/bench_daily.py)."""

from __future__ import annotations

import duckdb

from benchmarks.bench_daily import MART, _compare


def _warehouse(tmp_path, rows):
    path = tmp_path / "w.duckdb"
    schema, table = MART.split(".")
    with duckdb.connect(str(path)) as con:
        con.execute(f"create schema {schema}")
        con.execute(
            f"""create table {MART} (account_id varchar, as_of_date date, users_30d bigint,
                avg_hours double, plan varchar, inputs_loaded_through timestamp)"""
        )
        con.executemany(f"insert into {MART} values (?, ?, ?, ?, ?, null)", rows)
    return path


def _incremental(tmp_path, rows):
    path = tmp_path / "inc.parquet"
    with duckdb.connect() as con:
        con.execute(
            "create table inc (account_id varchar, as_of_date date, users_30d bigint, avg_hours double, plan varchar)"
        )
        con.executemany("insert into inc values (?, ?, ?, ?, ?)", rows)
        con.execute(f"copy inc to '{path}' (format parquet)")
    return path


FULL = [("A1", "2026-11-25", 3, 0.1 + 0.2, "pro"), ("A2", "2026-11-25", 0, None, "basic")]


def test_last_bit_differences_of_running_averages_are_equal(tmp_path):
    inc = [("A1", "2026-11-25", 3, 0.3, "pro"), ("A2", "2026-11-25", 0, None, "basic")]  # 0.1 + 0.2 != 0.3
    result = _compare(_warehouse(tmp_path, FULL), _incremental(tmp_path, inc))
    assert result == {
        "shared_days": 1,
        "shared_rows": 2,
        "rows_only_incremental": 0,
        "rows_only_full": 0,
        "columns_differing": {},
    }
    exact = _compare(tmp_path / "w.duckdb", tmp_path / "inc.parquet", abs_tol=0, rel_tol=0)
    assert exact["columns_differing"] == {"avg_hours": 1}


def test_real_differences_and_missing_rows_are_named(tmp_path):
    inc = [("A1", "2026-11-25", 4, 0.3, "pro"), ("A3", "2026-11-25", 0, 1.0, None)]
    result = _compare(_warehouse(tmp_path, FULL), _incremental(tmp_path, inc))
    assert result["rows_only_incremental"] == 1  # A3
    assert result["rows_only_full"] == 1  # A2
    assert result["columns_differing"] == {"users_30d": 1}  # on the rows both have
