"""The warehouse engines the pipeline runs on: DuckDB (default), PostgreSQL and Spark.

One small interface, so that ingestion, quality gates, scoring and publishing run the same
code on every engine (docs/scale-out.md):

- `execute(sql, params)` returns a result with `fetchone()`, `fetchall()`, `df()` and
  `description` (params use `?` placeholders on every engine);
- `append_arrow(table, batches)` appends Arrow record batches to a table (DuckDB: insert from
  Arrow; PostgreSQL: COPY per batch; Spark: a DataFrame per batch written into the table);
- `create_temp(name, select)` / `drop_temp(name)`: per-session work tables;
- `begin/commit/rollback` (no-ops on Spark: Parquet tables have no transactions);
- the `dialect`, which the SQL builders (scorecard compiler, quality rules) ask for the few
  things that differ: types, identifier quoting, rounding, date arithmetic, ordered string
  aggregation.

DuckDB stays the parser of landing files on every engine (an embedded library, like a CSV
reader); only the parsed, validated rows are shipped to the engine, batch by batch.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

ENGINES = ("duckdb", "postgres", "spark")

# ---------------------------------------------------------------------------------------------
# Dialects
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Dialect:
    name: str
    float_type: str
    string_type: str
    ident_quote: str

    def type(self, contract_type: str) -> str:
        """A contract / DDL type name (varchar, bigint, double, boolean, date, timestamp) here."""
        return {"varchar": self.string_type, "double": self.float_type}.get(contract_type, contract_type)

    def q(self, name: str) -> str:
        ch = self.ident_quote
        return ch + name.replace(ch, ch + ch) + ch

    def float(self, value: float) -> str:
        """A float literal that is a float on this engine (Spark reads 0.25 as a decimal)."""
        text = repr(float(value))
        return f"{text}D" if self.name == "spark" else text

    def _decimal(self, expr: str, digits: int) -> str:
        # Round in decimal, the same on every engine: first to 9 places (float noise of the last
        # bits, which differs by engine, must not decide a half), then half away from zero.
        return f"cast(cast({expr} as decimal(38, 9)) as decimal(38, {digits}))"

    def round(self, expr: str, digits: int) -> str:
        """A float rounded to `digits` places, as a float (Postgres has no round(double, n))."""
        return f"cast({self._decimal(expr, digits)} as {self.float_type})"

    def round_text(self, expr: str, digits: int) -> str:
        """A float rounded to `digits` places as text, '12.0' on every engine."""
        return f"cast({self._decimal(expr, digits)} as {self.string_type})"

    def add_days(self, date_expr: str, days: int | str) -> str:
        if self.name == "spark":
            return f"date_add({date_expr}, {days})"
        return f"({date_expr} + {days})"

    def sha256_hex(self, expr: str) -> str:
        if self.name == "postgres":
            return f"encode(sha256(convert_to({expr}, 'UTF8')), 'hex')"
        if self.name == "spark":
            return f"sha2({expr}, 256)"
        return f"sha256({expr})"

    def cte(self, name: str, body: str) -> str:
        """One `with` entry. PostgreSQL gets `as materialized`: its planner otherwise folds a CTE
        used once into the next and copies each computed column's expression into every place
        that uses it. The scorecard's stages use each other's columns dozens of times, so the
        expressions grew multiplicatively (5 days x 20,000 accounts: over 12 minutes)."""
        return f"{name} as {'materialized ' if self.name == 'postgres' else ''}({body})"

    def string_agg(self, expr: str, sep: str, order_by: str) -> str:
        """Ordered string aggregation (NULLs skipped)."""
        if self.name == "spark":
            return f"listagg({expr}, {sep}) within group (order by {order_by})"
        return f"string_agg({expr}, {sep} order by {order_by})"


def create_table_sql(dialect: Dialect, table: str, body: str) -> str:
    """`create table if not exists` from a DuckDB-typed column list, for this engine.

    Spark's Parquet tables take no constraints (primary key, not null): on Spark the loader and
    the quality gates are what keep them, as they do everywhere."""
    import re

    body = re.sub(r"\bdouble\b", dialect.float_type, body)
    body = re.sub(r"\bvarchar\b", dialect.string_type, body)
    if dialect.name == "spark":
        body = re.sub(r"\s+(primary key|not null)\b", "", body)
        return f"create table if not exists {table} ({body}) using parquet"
    return f"create table if not exists {table} ({body})"


DIALECTS = {
    "duckdb": Dialect("duckdb", float_type="double", string_type="varchar", ident_quote='"'),
    "postgres": Dialect("postgres", float_type="double precision", string_type="varchar", ident_quote='"'),
    "spark": Dialect("spark", float_type="double", string_type="string", ident_quote="`"),
}
DUCKDB = DIALECTS["duckdb"]


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


class SparkEngine(Engine):
    name = "spark"

    def __init__(self, spark: Any):
        self.spark = spark

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> Any:
        df = self.spark.sql(sql, args=list(params)) if params is not None else self.spark.sql(sql)
        if not df.columns or _is_command(sql):
            df.collect()
            return Rows(df.columns, [])
        return Rows(df.columns, [tuple(r) for r in df.collect()])

    def table_exists(self, schema: str, table: str) -> bool:
        return bool(self.spark.catalog.tableExists(f"{schema}.{table}"))

    def columns(self, relation: str) -> list[str]:
        return list(self.spark.sql(f"select * from {relation} limit 0").columns)

    def create_temp(self, name: str, select: str) -> None:
        # Materialised now, like a temp table elsewhere, and with its lineage cut: a view over
        # a view over wide CASE expressions makes Catalyst's analysis blow up (minutes for the
        # scorecard's union of factor rows).
        self.drop_temp(name)
        self.spark.sql(select).localCheckpoint(eager=True).createOrReplaceTempView(name)

    def drop_temp(self, name: str) -> None:
        self.spark.catalog.dropTempView(name)

    def replace_rows(self, table: str, select: str) -> None:
        # Spark cannot overwrite a table it reads in the same statement: stage it in a real table.
        stage = table + "__next"
        self.spark.sql(f"drop table if exists {stage}")
        self.spark.sql(f"create table {stage} using parquet as {select}")
        self.spark.sql(f"insert overwrite table {table} select * from {stage}")
        self.spark.sql(f"drop table if exists {stage}")

    def iter_rows(
        self, sql: str, params: Sequence[Any] | None = None, size: int = 5000
    ) -> Iterator[list[tuple]]:
        df = self.spark.sql(sql, args=list(params)) if params is not None else self.spark.sql(sql)
        batch: list[tuple] = []
        for row in df.toLocalIterator():
            batch.append(tuple(row))
            if len(batch) >= size:
                yield batch
                batch = []
        if batch:
            yield batch

    # Rows collected into the driver at a time by arrow_batches.
    rows_per_fetch = 500_000

    def arrow_batches(self, sql: str, size: int = 100_000) -> Iterator[Any]:
        """The result as Arrow batches, at most `rows_per_fetch` rows in the driver at a time.

        `toArrow()` collects the whole result into the driver: the demo's factor table (about 2M
        rows with reason texts) lost its task result that way. Larger results are fetched in
        parts by a hash of the whole row (each row lands in exactly one part; a scan per part)."""
        import pyarrow as pa

        df = self.spark.sql(sql)
        parts = max(1, -(-df.count() // self.rows_per_fetch))
        cols = ", ".join(self.dialect.q(c) for c in df.columns)
        for part in range(parts):
            piece = df if parts == 1 else df.where(f"pmod(hash({cols}), {parts}) = {part}")
            table = piece.toArrow()
            yield from table.to_batches(size)
        yield pa.RecordBatch.from_pylist([], schema=table.schema)

    def replace_table(self, table: str, select: str) -> None:
        self.spark.sql(f"drop table if exists {table}")
        self.spark.sql(f"create table {table} using parquet as {select}")

    def begin(self) -> None:  # Parquet tables: no transactions (docs/scale-out.md)
        pass

    def commit(self) -> None:
        pass

    def rollback(self) -> None:
        pass

    def append_arrow(self, table: str, batches: Iterable[Any]) -> int:
        """Append Arrow batches through a Parquet file that Spark reads itself.

        `createDataFrame` on local data ships every row through Py4J and serialises it into the
        tasks: the driver's heap ran out on M's 9.7M usage events. Here Python streams the
        batches to a Parquet file (memory bounded by one batch) and Spark reads it in splits.
        The staging directory sits under HEALTHSCORE_SPARK_DIR, which the local session sees."""
        import tempfile

        import pyarrow.parquet as pq

        target = self.columns(table)
        types = {f.name: f.dataType for f in self.spark.table(table).schema.fields}
        stage_root = spark_dir() / "staging"
        stage_root.mkdir(parents=True, exist_ok=True)
        total = 0
        with tempfile.TemporaryDirectory(prefix="append-", dir=stage_root) as tmp:
            stage = Path(tmp)
            writer = None
            for batch in batches:
                if writer is None:
                    writer = pq.ParquetWriter(str(stage / "part-0.parquet"), batch.schema)
                if batch.num_rows:
                    writer.write_batch(batch)
                    total += batch.num_rows
            if writer is not None:
                writer.close()
            if not total:
                return 0
            df = self.spark.read.parquet(str(stage))
            select = [
                (df[c].cast(types[c]) if c in df.columns else _null_col(types[c])).alias(c) for c in target
            ]
            df.select(*select).write.insertInto(table)
        return total


def _null_col(data_type: Any) -> Any:
    from pyspark.sql import functions as F

    return F.lit(None).cast(data_type)


def _is_command(sql: str) -> bool:
    head = sql.lstrip().split(None, 1)[0].lower() if sql.strip() else ""
    return head in {"create", "insert", "drop", "cache", "uncache", "delete", "update", "alter", "refresh"}


# ---------------------------------------------------------------------------------------------
# Configuration and connections
# ---------------------------------------------------------------------------------------------


def guard_pyspark_import() -> None:
    """pyspark.sql.connect (which Great Expectations imports once pyspark is installed) calls
    sys.exit(0) when `__main__` has no file, taking it for a doctest run: `python -c` and
    pytest-xdist workers look like that. Give such a `__main__` a placeholder file name."""
    import sys

    main = sys.modules.get("__main__")
    if main is not None and getattr(main, "__spec__", None) is None and not hasattr(main, "__file__"):
        main.__file__ = "<healthscore>"


def engine_name() -> str:
    name = os.environ.get("HEALTHSCORE_ENGINE", "duckdb").strip().lower() or "duckdb"
    if name not in ENGINES:
        raise ValueError(f"HEALTHSCORE_ENGINE={name!r}: choose one of {', '.join(ENGINES)}")
    return name


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


def spark_dir() -> Path:
    return Path(os.environ.get("HEALTHSCORE_SPARK_DIR", "/tmp/healthscore-spark")).resolve()


def spark_conf() -> dict[str, str]:
    """The settings of the dbt profile's spark output (dbt_project/profiles.yml), for our own session."""
    base = spark_dir()
    return {
        "spark.master": os.environ.get("HEALTHSCORE_SPARK_MASTER", "local[2]"),
        # Local mode runs every task in the driver: Spark's default 1g heap runs out at M.
        "spark.driver.memory": os.environ.get("HEALTHSCORE_SPARK_DRIVER_MEMORY", "4g"),
        "spark.sql.warehouse.dir": str(base / "warehouse"),
        "spark.hadoop.javax.jdo.option.ConnectionURL": f"jdbc:derby:;databaseName={base}/metastore_db;create=true",
        "spark.driver.extraJavaOptions": f"-Dderby.system.home={base}",
        "spark.sql.shuffle.partitions": "4",
        "spark.sql.session.timeZone": "UTC",
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.legacy.createHiveTableByDefault": "false",
        # dbt-spark turns ANSI mode off; the Python stages see the same semantics.
        "spark.sql.ansi.enabled": "false",
    }


def spark_session() -> Any:
    """The process's Spark session (local, Hive catalog on a Derby metastore under HEALTHSCORE_SPARK_DIR)."""
    guard_pyspark_import()
    from pyspark.sql import SparkSession

    spark_dir().mkdir(parents=True, exist_ok=True)
    builder = SparkSession.builder.enableHiveSupport()
    for key, value in spark_conf().items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    spark.conf.set("spark.sql.ansi.enabled", "false")
    return spark


def release_spark() -> None:
    """Stop the session AND its JVM: the embedded Derby metastore admits one process, and dbt's
    own Spark process (the CLI) must be able to open it next."""
    from pyspark import SparkContext
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        active.stop()
    gateway = SparkContext._gateway
    if gateway is not None:
        gateway.shutdown()
        proc = getattr(gateway, "proc", None)
        if proc is not None:
            proc.kill()
            proc.wait()
        SparkContext._gateway = None
        SparkContext._jvm = None


@contextmanager
def open_engine(
    name: str | None = None, *, duckdb_path: Path | str | None = None, read_only: bool = False
) -> Iterator[Engine]:
    """An engine for one unit of work. DuckDB needs the warehouse file's path."""
    name = name or engine_name()
    if name == "duckdb":
        from .warehouse import connect

        if duckdb_path is None:
            from .settings import Settings

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
