"""Choose and open the configured engine (HEALTHSCORE_ENGINE)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb

from orchestration.lib.engines.base import Engine
from orchestration.lib.engines.dialect import ENGINES
from orchestration.lib.engines.duckdb import DuckDBEngine
from orchestration.lib.engines.postgres import PostgresEngine, postgres_dsn
from orchestration.lib.engines.spark import SparkEngine, spark_session


def engine_name() -> str:
    name = os.environ.get("HEALTHSCORE_ENGINE", "duckdb").strip().lower() or "duckdb"
    if name not in ENGINES:
        raise ValueError(f"HEALTHSCORE_ENGINE={name!r}: choose one of {', '.join(ENGINES)}")
    return name


@contextmanager
def open_engine(
    name: str | None = None, *, duckdb_path: Path | str | None = None, read_only: bool = False
) -> Iterator[Engine]:
    """An engine for one unit of work. DuckDB needs the warehouse file's path."""
    name = name or engine_name()
    if name == "duckdb":
        from orchestration.lib.engines.warehouse import connect

        if duckdb_path is None:
            from orchestration.lib.settings import Settings

            duckdb_path = Settings.from_env().warehouse_path
        with connect(duckdb_path, read_only=read_only) as con:
            yield DuckDBEngine(con)
    elif name == "postgres":
        import psycopg2

        dsn = postgres_dsn()
        con = psycopg2.connect(dsn)
        con.autocommit = True
        try:
            yield PostgresEngine(con, dsn)
        finally:
            con.close()
    elif name == "spark":
        # The session lives as long as the process (starting one costs 10-20 s); see release_spark.
        yield SparkEngine(spark_session())
    else:
        raise ValueError(f"unknown engine {name!r}")


def as_engine(con: Any) -> Engine:
    """Accept an Engine or a bare DuckDB connection (the embedded default)."""
    if isinstance(con, Engine):
        return con
    if isinstance(con, duckdb.DuckDBPyConnection):
        return DuckDBEngine(con)
    raise TypeError(f"not a warehouse connection: {type(con).__name__}")
