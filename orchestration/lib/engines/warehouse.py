"""The embedded warehouse: short-lived DuckDB connections.

DuckDB allows one writer process per file, and dbt runs in its own process, so
every connection here is opened for one unit of work and closed straight after.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

# DuckDB takes 80 % of RAM by default; the pipeline caps it so the whole process tree stays
# within a predictable budget (DuckDB spills sorts, joins and aggregates to <warehouse>.tmp/).
MEMORY_LIMIT_ENV = "HEALTHSCORE_DUCKDB_MEMORY_LIMIT"
DEFAULT_MEMORY_LIMIT = "4GB"


def memory_limit() -> str:
    return os.environ.get(MEMORY_LIMIT_ENV, DEFAULT_MEMORY_LIMIT)


def warehouse_settings() -> list[str]:
    """What every connection to the warehouse runs first (ours, GX's through SQLAlchemy).

    SETs, not a connect() config: other connections of this process to the same file (GX's,
    dbt's) must not differ in configuration.
    """
    return [
        # Only built-in extensions exist offline; never try to download one.
        "set autoinstall_known_extensions = false",
        "set autoload_known_extensions = false",
        f"set memory_limit = '{memory_limit()}'",
    ]


@contextmanager
def connect(path: Path | str, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    path = Path(path)
    if not read_only:
        path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(path), read_only=read_only)
    try:
        for statement in warehouse_settings():
            con.execute(statement)
        yield con
    finally:
        con.close()
