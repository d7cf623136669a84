"""DuckDB, the default engine: the warehouse file itself."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import duckdb

from orchestration.lib.engines.base import Engine
from orchestration.lib.engines.dialect import DUCKDB


class DuckDBEngine(Engine):
    name = "duckdb"

    def __init__(self, con: duckdb.DuckDBPyConnection):
        self.con = con

    def __getattr__(self, name: str) -> Any:
        # DuckDB-only code (snapshots, backtests, registered DataFrames) keeps the full connection.
        return getattr(self.con, name)

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> Any:
        return self.con.execute(sql, params) if params is not None else self.con.execute(sql)

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        rows = list(rows)
        if rows:
            self.con.executemany(sql, rows)

    def create_temp(self, name: str, select: str) -> None:
        self.execute(f"create or replace temp table {name} as {select}")

    def replace_table(self, table: str, select: str) -> None:
        self.execute(f"create or replace table {table} as {select}")

    def iter_rows(
        self, sql: str, params: Sequence[Any] | None = None, size: int = 5000
    ) -> Iterator[list[tuple]]:
        cursor = self.con.cursor()
        try:
            cursor.execute(sql, params) if params is not None else cursor.execute(sql)
            while rows := cursor.fetchmany(size):
                yield rows
        finally:
            cursor.close()

    def append_arrow(self, table: str, batches: Iterable[Any]) -> int:
        total = 0
        for batch in batches:
            if batch.num_rows:
                self.con.register("__append_batch", batch)
                cols = ", ".join(DUCKDB.q(c) for c in batch.schema.names)
                self.con.execute(f"insert into {table} ({cols}) select {cols} from __append_batch")
                self.con.unregister("__append_batch")
                total += batch.num_rows
        return total
