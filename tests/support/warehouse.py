"""A small DuckDB warehouse for tests that read what a run leaves behind, without running one."""

from __future__ import annotations

from pathlib import Path

import duckdb

from orchestration.lib.ingest.loader import ensure_raw_schema
from orchestration.lib.quality.results import RESULTS_DDL
from orchestration.lib.scoring.scores import ensure_score_tables


def seeded_warehouse(path: Path, seed_sql: str) -> Path:
    """`path` with the score tables, the raw schema and the quality results table, then `seed_sql`."""
    con = duckdb.connect(str(path))
    try:
        ensure_score_tables(con)
        ensure_raw_schema(con)
        con.execute(RESULTS_DDL)
        con.execute(seed_sql)
    finally:
        con.close()
    return path
