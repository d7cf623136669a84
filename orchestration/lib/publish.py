"""Publish the warehouse for readers that must never block (or be blocked by) the pipeline.

DuckDB allows one writer process per file and a reader of the live file takes its lock, so BI
clients read copies instead (STACK.md, "DuckDB concurrency"):

- a read-only DuckDB snapshot, `data/published/healthscore_published.duckdb`, written to a temp
  file in one read transaction of the live warehouse and then renamed over the old one
  (`os.replace`: a reader opens either the old complete file or the new complete file). The temp
  file starts as a copy of the previous snapshot, and only the rows of score versions it does
  not have yet are added (restated dates replaced, small tables replaced whole); without a
  previous snapshot of the same tables and columns, every table is copied;
- Parquet exported from that snapshot: one file per small table, `<schema>.<table>.parquet`, and
  for the history tables a folder with one file per score version or per as_of_date, written
  when new (or restated); every file is written to a temp name and renamed;
- optionally the same tables in PostgreSQL (`export_postgres`), replaced in one transaction.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from .engines import DuckDBEngine, Engine, as_engine
from .settings import Settings
from .warehouse import connect, quote_ident, quote_literal

SNAPSHOT_NAME = "healthscore_published.duckdb"

# Copied when present, in this order. The BI marts are the documented interface (docs/tables.md);
# the score, quality and load tables come along for lineage and data-quality review.
PUBLISHED_TABLES: tuple[str, ...] = (
    "bi.health_scores_current",
    "bi.fct_health_scores",
    "bi.fct_health_score_factors",
    "bi.fct_score_runs",
    "marts.dim_accounts",
    "scores.score_runs",
    "scores.health_scores",
    "scores.health_scores_current",
    "scores.health_score_factors",
    "scores.health_score_rollups",
    "scores.input_batches",
    "quality.check_results",
    "raw._quarantine",
    "raw._load_batches",
    # Written by the backtesting pipeline when it has run; absent otherwise.
    "backtest.backtest_runs",
    "backtest.backtest_metrics",
)

# Quarantined rows by source, column and reason: what a data-quality reviewer looks at first.
QUARANTINE_SUMMARY_SQL = """
select
    source,
    column_name,
    reason,
    count(*) as rows_quarantined,
    count(distinct source_file) as files,
    min(quarantined_at) as first_quarantined_at,
    max(quarantined_at) as last_quarantined_at
from raw._quarantine
group by source, column_name, reason
"""
QUARANTINE_SUMMARY_VIEW = "quality.quarantine_summary"


@dataclass
class PublishResult:
    snapshot_path: Path
    parquet_dir: Path
    row_counts: dict[str, int] = field(default_factory=dict)
    parquet_files: list[Path] = field(default_factory=list)
    score_version: int | None = None
    seconds: float = 0.0
    snapshot_seconds: float = 0.0
    incremental: bool = False  # the snapshot was updated from the previous one, not copied whole
    rows_written: dict[str, int] = field(default_factory=dict)  # rows inserted per table (non-zero)


def published_dir(settings: Settings | None = None) -> Path:
    """Where published files go: $HEALTHSCORE_PUBLISHED_DIR, else next to the warehouse's data dir."""
    if os.environ.get("HEALTHSCORE_PUBLISHED_DIR"):
        return Path(os.environ["HEALTHSCORE_PUBLISHED_DIR"])
    settings = settings or Settings.from_env()
    if os.environ.get("HEALTHSCORE_DATA_DIR"):
        return Path(os.environ["HEALTHSCORE_DATA_DIR"]) / "published"
    # data/warehouse/healthscore.duckdb -> data/published
    return settings.warehouse_path.parent.parent / "published"


def existing_tables(con: duckdb.DuckDBPyConnection, database: str | None = None) -> set[str]:
    where = f"where table_catalog = {quote_literal(database)}" if database else ""
    rows = con.execute(f"select table_schema, table_name from information_schema.tables {where}").fetchall()
    return {f"{s}.{t}" for s, t in rows}


def ensure_quality_views(con: duckdb.DuckDBPyConnection) -> None:
    """quality.quarantine_summary over raw._quarantine (when the loader has created it)."""
    if "raw._quarantine" in existing_tables(con):
        con.execute("create schema if not exists quality")
        con.execute(f"create or replace view {QUARANTINE_SUMMARY_VIEW} as {QUARANTINE_SUMMARY_SQL}")


def _relation(name: str, database: str | None = None) -> str:
    parts = ([database] if database else []) + name.split(".")
    return ".".join(quote_ident(p) for p in parts)


# How the snapshot and the Parquet files follow a new score version without copying the history.
# Append-only history, keyed by score_version: rows of versions newer than the snapshot's are
# appended; one Parquet file per score version.
APPEND_BY_VERSION: tuple[str, ...] = (
    "scores.score_runs",
    "scores.health_scores",
    "scores.health_score_factors",
    "scores.health_score_rollups",
)
# Newest version per as_of_date (a backfill restates older dates): the dates scored by newer
# versions are replaced; one Parquet file per as_of_date.
RESTATE_BY_DATE: tuple[str, ...] = ("bi.fct_health_scores", "bi.fct_health_score_factors")
# Every other published table is small (current scores, accounts, lineage, quality, quarantine)
# and is replaced whole, in the snapshot and as one Parquet file.
PARQUET_PARTITION = {
    **dict.fromkeys(APPEND_BY_VERSION, "score_version"),
    **dict.fromkeys(RESTATE_BY_DATE, "as_of_date"),
}
PARQUET_UNPARTITIONED = ("scores.score_runs",)  # one row per version: a single small file


@dataclass
class SnapshotUpdate:
    """What write_snapshot did: the row count of every table, and how it got there."""

    row_counts: dict[str, int] = field(default_factory=dict)
    incremental: bool = False  # False: every table copied whole (no usable previous snapshot)
    reason: str = ""  # why the snapshot was copied whole
    rows_written: dict[str, int] = field(default_factory=dict)  # rows inserted per table
    restated_dates: dict[str, list[dt.date]] = field(default_factory=dict)  # RESTATE_BY_DATE tables
    new_versions: dict[str, list[int]] = field(default_factory=dict)  # APPEND_BY_VERSION tables
    previous_version: int | None = None  # newest score version in the previous snapshot


def _columns(con: duckdb.DuckDBPyConnection, database: str | None, names: Iterable[str]) -> dict[str, list]:
    where = f"table_catalog = {quote_literal(database)}" if database else "table_catalog = current_database()"
    rows = con.execute(
        f"""select table_schema || '.' || table_name, column_name, data_type from information_schema.columns
        where {where} order by table_schema, table_name, ordinal_position"""
    ).fetchall()
    wanted = set(names)
    out: dict[str, list] = {}
    for name, column, dtype in rows:
        if name in wanted:
            out.setdefault(name, []).append((column, dtype))
    return out


def _snapshot_differs(con: duckdb.DuckDBPyConnection, alias: str, wanted: list[str]) -> str:
    """Why the attached previous snapshot cannot be updated in place ('' when it can)."""
    present = existing_tables(con, alias) - {QUARANTINE_SUMMARY_VIEW}
    if present != set(wanted):
        return f"tables differ (+{sorted(set(wanted) - present)} -{sorted(present - set(wanted))})"
    if _columns(con, alias, wanted) != _columns(con, None, wanted):
        return "columns differ"
    return ""


def _update_table(con: duckdb.DuckDBPyConnection, name: str, alias: str, update: SnapshotUpdate) -> None:
    """Bring one table of the attached snapshot up to date with the warehouse."""
    src, dst = _relation(name), _relation(name, alias)
    if name in APPEND_BY_VERSION or name in RESTATE_BY_DATE:
        newest = int(con.execute(f"select coalesce(max(score_version), -1) from {dst}").fetchone()[0])
        newer = f"select distinct {{column}} from {src} where score_version > {newest}"
    if name in APPEND_BY_VERSION:
        update.new_versions[name] = [
            v for (v,) in con.execute(newer.format(column="score_version") + " order by 1").fetchall()
        ]
        (written,) = con.execute(
            f"insert into {dst} select * from {src} where score_version > {newest}"
        ).fetchone()
    elif name in RESTATE_BY_DATE:
        dates = newer.format(column="as_of_date")
        update.restated_dates[name] = [d for (d,) in con.execute(dates + " order by 1").fetchall()]
        con.execute(f"delete from {dst} where as_of_date in ({dates})")
        (written,) = con.execute(
            f"insert into {dst} select * from {src} where as_of_date in ({dates})"
        ).fetchone()
    else:
        con.execute(f"delete from {dst}")
        (written,) = con.execute(f"insert into {dst} select * from {src}").fetchone()
    (count,) = con.execute(f"select count(*) from {dst}").fetchone()
    (expected,) = con.execute(f"select count(*) from {src}").fetchone()
    if count != expected:
        # History pruned or rewritten in the warehouse (not append-only any more): copy it whole.
        con.execute(f"delete from {dst}")
        (written,) = con.execute(f"insert into {dst} select * from {src}").fetchone()
        update.new_versions.pop(name, None)
        update.restated_dates.pop(name, None)
    update.rows_written[name] = written
    update.row_counts[name] = expected


def write_snapshot(
    con: duckdb.DuckDBPyConnection,
    snapshot_path: Path,
    tables: Iterable[str] = PUBLISHED_TABLES,
    *,
    incremental: bool = True,
) -> SnapshotUpdate:
    """Write the published snapshot of `tables` (those that exist) from the warehouse `con`, atomically.

    With `incremental` and a previous snapshot of the same tables and columns, the previous file
    is copied (a file copy, fast) and brought up to date: rows of new score versions appended,
    restated dates replaced, small tables replaced whole. Otherwise every table is copied. Either
    way the work happens in a temp file, in one transaction that reads one consistent state of
    the warehouse, and the temp file is then renamed over the snapshot (`os.replace`): a reader
    opens either the previous complete file or the new one.
    """
    snapshot_path = Path(snapshot_path)
    snapshot_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = snapshot_path.with_name(f".{snapshot_path.name}.{uuid.uuid4().hex[:8]}.tmp")
    present = existing_tables(con)
    wanted = [t for t in tables if t in present]
    alias = "published_snapshot"
    update = SnapshotUpdate()
    try:
        if not incremental:
            update.reason = "full publish requested"
        elif not snapshot_path.exists():
            update.reason = "no previous snapshot"
        else:
            shutil.copyfile(snapshot_path, tmp)
            con.execute(f"attach {quote_literal(str(tmp))} as {alias}")
            update.reason = _snapshot_differs(con, alias, wanted)
            update.incremental = not update.reason
            if update.incremental and "scores.score_runs" in wanted:
                update.previous_version = con.execute(
                    f"select max(score_version) from {_relation('scores.score_runs', alias)}"
                ).fetchone()[0]
            if not update.incremental:  # start from an empty file
                con.execute(f"detach {alias}")
                tmp.unlink()
        if not update.incremental:
            con.execute(f"attach {quote_literal(str(tmp))} as {alias}")
        con.execute("begin transaction")
        try:
            if update.incremental:
                for name in wanted:
                    _update_table(con, name, alias, update)
            else:
                for schema in sorted({t.split(".")[0] for t in wanted}):
                    con.execute(f"create schema if not exists {alias}.{quote_ident(schema)}")
                for name in wanted:
                    con.execute(f"create table {_relation(name, alias)} as select * from {_relation(name)}")
                    count = con.execute(f"select count(*) from {_relation(name, alias)}").fetchone()[0]
                    update.row_counts[name] = update.rows_written[name] = count
                if "raw._quarantine" in update.row_counts:
                    con.execute(f"create schema if not exists {alias}.quality")
                    con.execute(f"create view {alias}.{QUARANTINE_SUMMARY_VIEW} as {QUARANTINE_SUMMARY_SQL}")
            con.execute("commit")
        except BaseException:
            con.execute("rollback")
            raise
        con.execute(f"checkpoint {alias}")
    except BaseException:
        _detach(con, alias)
        tmp.unlink(missing_ok=True)
        raise
    _detach(con, alias)
    wal = Path(str(tmp) + ".wal")
    if wal.exists():  # checkpointed above; a leftover WAL would belong to the temp name only
        wal.unlink()
    os.replace(tmp, snapshot_path)
    return update


def _detach(con: duckdb.DuckDBPyConnection, alias: str) -> None:
    if alias in {r[0] for r in con.execute("select database_name from duckdb_databases()").fetchall()}:
        con.execute(f"detach {alias}")


def _partition_file(table_dir: Path, column: str, value: object) -> Path:
    label = f"{int(value):06d}" if column == "score_version" else str(value)
    return table_dir / f"{column}_{label}.parquet"


def _copy_parquet(
    snap: duckdb.DuckDBPyConnection, query: str, target: Path, params: list | None = None
) -> None:
    """One Parquet file, written to a temp name and renamed: readers see whole files only."""
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.tmp")
    snap.execute(
        f"copy ({query}) to {quote_literal(str(tmp))} (format parquet, compression zstd)", params or []
    )
    os.replace(tmp, target)


PARTITIONED_COPY_MIN = 5  # from this many partitions to write, one partitioned COPY instead of one each


def _literal(value: object) -> str:
    return f"date '{value}'" if isinstance(value, dt.date) else str(int(value))


def _write_partitions(
    snap: duckdb.DuckDBPyConnection,
    name: str,
    column: str,
    table_dir: Path,
    todo: dict[Path, object],
    every: bool,
) -> list[Path]:
    """Write one Parquet file per partition value in `todo` ({target path: value}).

    A few partitions: one COPY each. Many (a first export, a full rewrite): one partitioned COPY,
    a single scan of the table, into a temp folder, then every file renamed into place."""
    if len(todo) < PARTITIONED_COPY_MIN:
        for path, value in todo.items():
            _copy_parquet(snap, f"select * from {_relation(name)} where {column} = {_literal(value)}", path)
        return list(todo)
    staging = table_dir / f".partitioned.{uuid.uuid4().hex[:8]}.tmp"
    where = "" if every else f" where {column} in ({', '.join(_literal(v) for v in todo.values())})"
    written: list[Path] = []
    try:
        snap.execute(
            f"copy (select * from {_relation(name)}{where}) to {quote_literal(str(staging))} "
            f"(format parquet, compression zstd, partition_by ({quote_ident(column)}), write_partition_columns true)"
        )
        by_value = {str(v): path for path, v in todo.items()}
        for part in staging.iterdir():
            files = list(part.glob("*.parquet"))
            target = by_value.get(part.name.split("=", 1)[1])
            if target is not None and len(files) == 1:
                os.replace(files[0], target)
                written.append(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    for path, value in todo.items():  # a partition written as several files: one COPY of its own
        if path not in written:
            _copy_parquet(snap, f"select * from {_relation(name)} where {column} = {_literal(value)}", path)
            written.append(path)
    return written


PARQUET_STATE = "_published.json"  # in the Parquet folder: the score version its files match


PARQUET_SOURCE = "_published_for_parquet"  # the snapshot, attached read-only to the warehouse's connection


@contextmanager
def _snapshot_reader(
    snapshot_path: Path, con: duckdb.DuckDBPyConnection | None
) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection whose default catalog is the snapshot.

    With `con` (the warehouse's own connection, as the publish step has it), the snapshot is
    attached to it read-only: the export runs in the same DuckDB instance, under the one memory
    cap. A second instance beside the warehouse's (whose buffer pool the snapshot copy has just
    filled) would have its own cap: at 1,000,000 accounts the process reached 6.2 GiB under a
    4 GB cap while the Parquet files were written that way.
    """
    if con is None:
        with connect(snapshot_path, read_only=True) as snap:
            yield snap
        return
    original = con.execute("select current_database()").fetchone()[0]
    _detach(con, PARQUET_SOURCE)
    con.execute(f"attach {quote_literal(str(snapshot_path))} as {PARQUET_SOURCE} (read_only)")
    try:
        con.execute(f"use {PARQUET_SOURCE}")
        yield con
    finally:
        con.execute(f"use {quote_ident(original)}")
        _detach(con, PARQUET_SOURCE)


def write_parquet(
    snapshot_path: Path,
    parquet_dir: Path,
    update: SnapshotUpdate | None = None,
    con: duckdb.DuckDBPyConnection | None = None,
) -> list[Path]:
    """Export the snapshot's tables as Parquet. Returns the files written.

    Small tables: one file each, `<schema>.<table>.parquet`, rewritten every time. The history
    tables: a folder `<schema>.<table>/` with one file per score version
    (`score_version_000012.parquet`, written once) or per as_of_date
    (`as_of_date_2026-11-20.parquet`, rewritten when a newer version restates that date). A file
    is removed when its version or date is no longer in the table. Every file is written to a
    temp name and renamed: readers see whole files only.

    With `update` (an incremental snapshot update) and Parquet files that match the previous
    snapshot (`_published.json`), only new versions and restated dates are written; otherwise
    every partition is rewritten.

    `con`: a DuckDB connection to read the snapshot through (attached to it, see
    _snapshot_reader); without it, the snapshot is opened on its own.
    """
    parquet_dir.mkdir(parents=True, exist_ok=True)
    state_path = parquet_dir / PARQUET_STATE
    try:
        synced = json.loads(state_path.read_text()).get("score_version") if state_path.exists() else None
    except (OSError, json.JSONDecodeError):
        synced = None
    in_sync = update is not None and update.incremental and synced == update.previous_version
    written: list[Path] = []
    with _snapshot_reader(snapshot_path, con) as snap:
        catalog = PARQUET_SOURCE if con is not None else None
        tables = sorted(existing_tables(snap, catalog) - {QUARANTINE_SUMMARY_VIEW})
        for name in tables:
            column = PARQUET_PARTITION.get(name)
            if column is None or name in PARQUET_UNPARTITIONED:
                target = parquet_dir / f"{name}.parquet"
                _copy_parquet(snap, f"select * from {_relation(name)}", target)
                written.append(target)
                continue
            table_dir = parquet_dir / name
            table_dir.mkdir(exist_ok=True)
            (parquet_dir / f"{name}.parquet").unlink(missing_ok=True)  # the single-file layout of old
            values = [
                v
                for (v,) in snap.execute(
                    f"select distinct {column} from {_relation(name)} order by 1"
                ).fetchall()
            ]
            wanted = {_partition_file(table_dir, column, v): v for v in values}
            # None: rewrite every partition (first export, full snapshot copy, history pruned or
            # rewritten, or files out of step with the previous snapshot).
            changed: set | None = None
            if update is not None and update.incremental and name in update.new_versions:
                changed = set(update.new_versions[name])  # versions are immutable: missing files too
            elif in_sync and name in update.restated_dates:
                changed = set(update.restated_dates[name])
            if not wanted:  # an empty table: one empty file keeps the columns (and the glob) readable
                empty = table_dir / "empty.parquet"
                _copy_parquet(snap, f"select * from {_relation(name)}", empty)
                written.append(empty)
                wanted = {empty: None}
                changed = set()
            todo = {
                path: value
                for path, value in wanted.items()
                if changed is None or value in changed or not path.exists()
            }
            written += _write_partitions(snap, name, column, table_dir, todo, every=len(todo) == len(values))
            for stale in set(table_dir.glob("*.parquet")) - set(wanted):
                stale.unlink()
        version = (
            snap.execute("select max(score_version) from scores.score_runs").fetchone()[0]
            if "scores.score_runs" in tables
            else None
        )
    tmp = parquet_dir / f".{PARQUET_STATE}.{uuid.uuid4().hex[:8]}.tmp"
    tmp.write_text(json.dumps({"score_version": version}))
    os.replace(tmp, state_path)
    return written


def write_snapshot_from_engine(
    engine: Engine, snapshot_path: Path, tables: Iterable[str] = PUBLISHED_TABLES
) -> SnapshotUpdate:
    """`write_snapshot` for a warehouse on PostgreSQL or Spark: every table streams as Arrow
    batches into a new DuckDB file (always whole), renamed into place when complete. Each table
    is read on its own: one consistent state relies on the run's step order (nothing writes
    while the publish step runs)."""
    snapshot_path = Path(snapshot_path)
    snapshot_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = snapshot_path.with_name(f".{snapshot_path.name}.{uuid.uuid4().hex[:8]}.tmp")
    update = SnapshotUpdate(reason=f"warehouse on {engine.name}")
    try:
        with connect(tmp) as snap:
            for name in tables:
                schema, table = name.split(".", 1)
                if not engine.table_exists(schema, table):
                    continue
                snap.execute(f"create schema if not exists {quote_ident(schema)}")
                created = False
                for batch in engine.arrow_batches(f"select * from {name}"):
                    snap.register("__batch", batch)
                    if not created:
                        snap.execute(f"create table {_relation(name)} as select * from __batch")
                        created = True
                    else:
                        snap.execute(f"insert into {_relation(name)} select * from __batch")
                    snap.unregister("__batch")
                count = snap.execute(f"select count(*) from {_relation(name)}").fetchone()[0]
                update.row_counts[name] = update.rows_written[name] = count
            if "raw._quarantine" in update.row_counts:
                snap.execute("create schema if not exists quality")
                snap.execute(f"create view {QUARANTINE_SUMMARY_VIEW} as {QUARANTINE_SUMMARY_SQL}")
            snap.execute("checkpoint")
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, snapshot_path)
    return update


def publish(
    con: duckdb.DuckDBPyConnection | Engine,
    out_dir: Path | None = None,
    *,
    parquet: bool = True,
    incremental: bool = True,
    log: Callable[[str], None] = lambda _msg: None,
) -> PublishResult:
    """Snapshot + Parquet export of the warehouse behind `con` into `out_dir`.

    Incremental by default: only the rows of score versions not yet published are written (see
    write_snapshot / write_parquet); `incremental=False` rewrites everything."""
    started = time.perf_counter()
    out_dir = Path(out_dir or published_dir())
    result = PublishResult(snapshot_path=out_dir / SNAPSHOT_NAME, parquet_dir=out_dir / "parquet")
    engine = as_engine(con)
    # DuckDB: the snapshot is read back through the warehouse's connection (one instance, one cap)
    duck = engine.con if isinstance(engine, DuckDBEngine) else None
    if duck is not None:
        ensure_quality_views(duck)
        update = write_snapshot(duck, result.snapshot_path, incremental=incremental)
    else:
        update = write_snapshot_from_engine(engine, result.snapshot_path)
    result.row_counts, result.incremental = update.row_counts, update.incremental
    result.rows_written = {k: v for k, v in update.rows_written.items() if v}
    result.snapshot_seconds = time.perf_counter() - started
    log(
        f"snapshot {result.snapshot_path}: {len(result.row_counts)} tables, "
        + (
            f"updated in place from the previous one: {sum(result.rows_written.values()):,} rows written"
            if update.incremental
            else f"copied whole ({update.reason})"
        )
        + f" ({result.snapshot_seconds:.1f} s)"
    )
    if parquet:
        result.parquet_files = write_parquet(result.snapshot_path, result.parquet_dir, update, con=duck)
        log(f"parquet: {len(result.parquet_files)} files written in {result.parquet_dir}")
    if "scores.score_runs" in result.row_counts:
        with _snapshot_reader(result.snapshot_path, duck) as snap:
            result.score_version = snap.execute(
                "select max(score_version) from scores.score_runs"
            ).fetchone()[0]
    manifest = {
        "published_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "score_version": result.score_version,
        "row_counts": result.row_counts,
        "parquet_partitioned_by": {
            name: column
            for name, column in PARQUET_PARTITION.items()
            if name in result.row_counts and name not in PARQUET_UNPARTITIONED
        },
    }
    tmp = out_dir / f".manifest.{uuid.uuid4().hex[:8]}.tmp"
    tmp.write_text(json.dumps(manifest, indent=2))
    os.replace(tmp, out_dir / "manifest.json")
    result.seconds = time.perf_counter() - started
    return result


# =====================================================================================
# PostgreSQL export
# =====================================================================================

_PG_TYPES = {
    "VARCHAR": "text",
    "BIGINT": "bigint",
    "INTEGER": "integer",
    "SMALLINT": "smallint",
    "TINYINT": "smallint",
    "HUGEINT": "numeric",
    "UBIGINT": "numeric",
    "UINTEGER": "bigint",
    "DOUBLE": "double precision",
    "FLOAT": "real",
    "BOOLEAN": "boolean",
    "DATE": "date",
    "TIMESTAMP": "timestamp",
    "TIMESTAMP WITH TIME ZONE": "timestamptz",
    "TIME": "time",
    "UUID": "uuid",
}


def postgres_type(duckdb_type: str) -> str:
    """The PostgreSQL type for a DuckDB column type (text for anything exotic: lists, structs)."""
    t = duckdb_type.upper()
    if t in _PG_TYPES:
        return _PG_TYPES[t]
    if re.fullmatch(r"DECIMAL\(\d+,\s*\d+\)", t):
        return t.replace("DECIMAL", "numeric")
    return "text"


def _pg_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def export_postgres(
    dsn: str,
    snapshot_path: Path,
    *,
    tables: Iterable[str] | None = None,
    log: Callable[[str], None] = lambda _msg: None,
) -> dict[str, int]:
    """Replace the snapshot's tables in PostgreSQL (same schema.table names) in one transaction.

    Data goes through COPY (psycopg2 `copy_expert`, CSV). BI users see the old tables until the
    commit and the new ones after it. Returns rows loaded per table.
    """
    import psycopg2

    counts: dict[str, int] = {}
    with connect(snapshot_path, read_only=True) as snap:
        present = existing_tables(snap)
        names = [t for t in (tables or PUBLISHED_TABLES) if t in present]
        conn = psycopg2.connect(dsn)
        try:
            with conn, conn.cursor() as cur, tempfile.TemporaryDirectory(prefix="hs_pg_") as tmpdir:
                cur.execute(f"drop view if exists {QUARANTINE_SUMMARY_VIEW}")
                for name in names:
                    schema, table = name.split(".", 1)
                    columns = snap.execute(
                        """select column_name, data_type from information_schema.columns
                        where table_schema = ? and table_name = ? order by ordinal_position""",
                        [schema, table],
                    ).fetchall()
                    cols_sql = ", ".join(f"{_pg_ident(c)} {postgres_type(t)}" for c, t in columns)
                    pg_name = f"{_pg_ident(schema)}.{_pg_ident(table)}"
                    cur.execute(f"create schema if not exists {_pg_ident(schema)}")
                    cur.execute(f"drop table if exists {pg_name}")
                    cur.execute(f"create table {pg_name} ({cols_sql})")
                    csv_path = Path(tmpdir) / f"{name}.csv"
                    # DuckDB writes NULL as an empty field and an empty string as "", which is
                    # exactly how PostgreSQL's CSV COPY tells them apart.
                    snap.execute(
                        f"copy (select * from {_relation(name)}) to {quote_literal(str(csv_path))} "
                        "(format csv, header true)"
                    )
                    with csv_path.open("r", encoding="utf-8", newline="") as fh:
                        cur.copy_expert(f"copy {pg_name} from stdin with (format csv, header true)", fh)
                    counts[name] = cur.rowcount
                    log(f"postgres {name}: {counts[name]:,} rows")
                if "raw._quarantine" in counts:
                    cur.execute("create schema if not exists quality")
                    cur.execute(f"create view {QUARANTINE_SUMMARY_VIEW} as {QUARANTINE_SUMMARY_SQL}")
        finally:
            conn.close()
    return counts
