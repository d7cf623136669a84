"""The engine interface every warehouse engine implements (see orchestration/lib/engines/__init__.py)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from orchestration.lib.engines.dialect import DIALECTS, Dialect

# ---------------------------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------------------------


class Rows:
    """A fetched result: the part of a DB-API cursor the pipeline uses."""

    def __init__(self, columns: Sequence[str], rows: list[tuple]):
        self.description = [(c, None, None, None, None, None, None) for c in columns]
        self._rows = rows
        self._pos = 0

    def fetchone(self) -> tuple | None:
        if self._pos >= len(self._rows):
            return None
        self._pos += 1
        return self._rows[self._pos - 1]

    def fetchall(self) -> list[tuple]:
        rest, self._pos = self._rows[self._pos :], len(self._rows)
        return rest

    def df(self):
        import pandas as pd

        return pd.DataFrame(self.fetchall(), columns=[d[0] for d in self.description])


# ---------------------------------------------------------------------------------------------
# Engines
# ---------------------------------------------------------------------------------------------


class Engine:
    name = "base"

    @property
    def dialect(self) -> Dialect:
        return DIALECTS[self.name]

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> Any:
        raise NotImplementedError

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        for row in rows:
            self.execute(sql, row)

    def columns(self, relation: str) -> list[str]:
        return [d[0] for d in self.execute(f"select * from {relation} limit 0").description]

    def table_exists(self, schema: str, table: str) -> bool:
        return bool(
            self.execute(
                "select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
                [schema, table],
            ).fetchone()[0]
        )

    def create_schema(self, schema: str) -> None:
        self.execute(f"create schema if not exists {schema}")

    def create_temp(self, name: str, select: str) -> None:
        self.drop_temp(name)
        self.execute(f"create temp table {name} as {select}")

    def drop_temp(self, name: str) -> None:
        self.execute(f"drop table if exists {name}")

    def replace_rows(self, table: str, select: str) -> None:
        """Replace every row of `table` by `select` (which may read `table` itself)."""
        self.create_temp("_replace_rows", select)
        self.execute(f"delete from {table}")
        self.execute(f"insert into {table} select * from _replace_rows")
        self.drop_temp("_replace_rows")

    def begin(self) -> None:
        self.execute("begin transaction")

    def commit(self) -> None:
        self.execute("commit")

    def rollback(self) -> None:
        self.execute("rollback")

    def append_arrow(self, table: str, batches: Iterable[Any]) -> int:
        raise NotImplementedError

    def iter_rows(
        self, sql: str, params: Sequence[Any] | None = None, size: int = 5000
    ) -> Iterator[list[tuple]]:
        """Rows in batches of `size`, without holding the whole result in Python."""
        rows = self.execute(sql, params).fetchall()
        for i in range(0, len(rows), size):
            yield rows[i : i + size]

    def arrow_batches(self, sql: str, size: int = 100_000) -> Iterator[Any]:
        """The result of `sql` as Arrow record batches (typed from the engine's column types)."""
        raise NotImplementedError

    def replace_table(self, table: str, select: str) -> None:
        """(Re)create `table` as `select`."""
        self.execute(f"drop table if exists {table}")
        self.execute(f"create table {table} as {select}")


def _is_command(sql: str) -> bool:
    head = sql.lstrip().split(None, 1)[0].lower() if sql.strip() else ""
    return head in {"create", "insert", "drop", "cache", "uncache", "delete", "update", "alter", "refresh"}
