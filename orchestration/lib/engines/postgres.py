"""PostgreSQL as the warehouse engine (docs/scale-out.md)."""

from __future__ import annotations

import io
import os
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from orchestration.lib.engines.base import Engine, Rows
from orchestration.lib.engines.dialect import DIALECTS


class PostgresEngine(Engine):
    name = "postgres"

    def __init__(self, con: Any, dsn: str = ""):
        self.con = con  # psycopg2 connection in autocommit mode: begin/commit are explicit
        self.dsn = dsn

    @staticmethod
    def _params(sql: str, params: Sequence[Any] | None) -> tuple[str, Any]:
        if params is None:
            return sql, None
        return sql.replace("%", "%%").replace("?", "%s"), list(params)

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> Any:
        cur = self.con.cursor()
        cur.execute(*self._params(sql, params))
        if cur.description is None:
            return Rows([], [])
        rows = Rows([d[0] for d in cur.description], cur.fetchall())
        cur.close()
        return rows

    def iter_rows(
        self, sql: str, params: Sequence[Any] | None = None, size: int = 5000
    ) -> Iterator[list[tuple]]:
        # A server-side cursor needs a transaction of its own: use a second connection.
        import psycopg2

        reader = psycopg2.connect(self.dsn or self.con.dsn)
        try:
            with reader.cursor(name="healthscore_iter") as cur:
                cur.itersize = size
                cur.execute(*self._params(sql, params))
                while rows := cur.fetchmany(size):
                    yield rows
        finally:
            reader.close()

    def create_temp(self, name: str, select: str) -> None:
        super().create_temp(name, select)
        # Autovacuum never analyzes temp tables: without statistics the planner picks nested
        # loops for the scorecard's self-joins (minutes instead of seconds).
        self.execute(f"analyze {name}")

    def arrow_batches(self, sql: str, size: int = 100_000) -> Iterator[Any]:
        """The result as Arrow batches: `COPY ... TO STDOUT` (csv) into a temporary file, read back
        by Arrow's streaming CSV reader with the result's types. Neither side holds the result in
        memory, and no value passes through Python objects (row-by-row fetching was ~10x slower)."""
        import tempfile

        import pyarrow as pa
        import pyarrow.csv as pacsv

        types = _pg_arrow_types()
        with self.con.cursor() as cur:  # the result's columns and types, without running it
            cur.execute(f"select * from ({sql}) as q limit 0")
            schema = pa.schema([(d.name, types.get(d.type_code, pa.string())) for d in cur.description])
        with tempfile.TemporaryFile(prefix="healthscore-copy-") as buf:
            with self.con.cursor() as cur:
                cur.copy_expert(f"copy ({sql}) to stdout with (format csv)", buf)
            if buf.tell():  # Arrow's reader refuses an empty file: no rows, only the schema below
                buf.seek(0)
                # COPY's csv: NULL is an unquoted empty field, an empty string is "" (kept as is).
                yield from pacsv.open_csv(
                    buf,
                    read_options=pacsv.ReadOptions(column_names=schema.names, block_size=16 << 20),
                    parse_options=pacsv.ParseOptions(newlines_in_values=True),
                    convert_options=pacsv.ConvertOptions(
                        column_types=schema,
                        null_values=[""],
                        strings_can_be_null=True,
                        quoted_strings_can_be_null=False,
                        true_values=["t"],
                        false_values=["f"],
                    ),
                )
        yield pa.record_batch([pa.array([], f.type) for f in schema], schema=schema)

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        rows = [list(r) for r in rows]
        if rows:
            with self.con.cursor() as cur:
                cur.executemany(self._params(sql, rows[0])[0], rows)

    def append_arrow(self, table: str, batches: Iterable[Any]) -> int:
        import pyarrow.csv as pacsv

        total = 0
        options = pacsv.WriteOptions(include_header=False)
        for batch in batches:
            if not batch.num_rows:
                continue
            # COPY one batch at a time. Arrow's CSV writer quotes every string and leaves NULL an
            # empty unquoted field, which is what COPY's csv format reads as NULL.
            buf = io.BytesIO()
            pacsv.write_csv(batch, buf, write_options=options)
            buf.seek(0)
            cols = ", ".join(DIALECTS["postgres"].q(c) for c in batch.schema.names)
            with self.con.cursor() as cur:
                cur.copy_expert(f"copy {table} ({cols}) from stdin with (format csv)", buf)
            total += batch.num_rows
        return total


def _pg_arrow_types() -> dict[int, Any]:
    import pyarrow as pa

    # PostgreSQL type OIDs -> Arrow types (anything else travels as text).
    return {
        16: pa.bool_(),
        20: pa.int64(),
        21: pa.int16(),
        23: pa.int32(),
        700: pa.float32(),
        701: pa.float64(),
        1700: pa.float64(),
        1082: pa.date32(),
        1114: pa.timestamp("us"),
        25: pa.string(),
        1043: pa.string(),
    }


def postgres_dsn() -> str:
    """libpq DSN from the same variables the dbt profile reads."""
    env = os.environ.get
    parts = {
        "host": env("HEALTHSCORE_PG_HOST", "127.0.0.1"),
        "port": env("HEALTHSCORE_PG_PORT", "5432"),
        "user": env("HEALTHSCORE_PG_USER", "postgres"),
        "dbname": env("HEALTHSCORE_PG_DBNAME", "healthscore"),
    }
    if env("HEALTHSCORE_PG_PASSWORD"):
        parts["password"] = env("HEALTHSCORE_PG_PASSWORD")
    return " ".join(f"{k}={v}" for k, v in parts.items())


def postgres_url() -> str:
    """SQLAlchemy URL (Great Expectations); psycopg2 explicitly (SQLAlchemy 2.1 defaults to psycopg 3)."""
    from urllib.parse import quote

    env = os.environ.get
    password = env("HEALTHSCORE_PG_PASSWORD", "")
    auth = quote(env("HEALTHSCORE_PG_USER", "postgres")) + (f":{quote(password)}" if password else "")
    return (
        f"postgresql+psycopg2://{auth}@{env('HEALTHSCORE_PG_HOST', '127.0.0.1')}:"
        f"{env('HEALTHSCORE_PG_PORT', '5432')}/{env('HEALTHSCORE_PG_DBNAME', 'healthscore')}"
    )
