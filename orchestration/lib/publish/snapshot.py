"""The read-only DuckDB snapshot: written to a temp file in one read transaction of the live
warehouse, then renamed over the old one; only new score versions are added."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import time
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path

import duckdb

from orchestration.lib.engines.base import Engine
from orchestration.lib.engines.dialect import quote_ident, quote_literal
from orchestration.lib.engines.duckdb import DuckDBEngine
from orchestration.lib.engines.factory import as_engine
from orchestration.lib.engines.warehouse import connect
from orchestration.lib.publish.parquet import _snapshot_reader, write_parquet
from orchestration.lib.publish.tables import (
    APPEND_BY_VERSION,
    MASK_FUNCTION,
    MASKED_COLUMNS,
    PARQUET_PARTITION,
    PARQUET_UNPARTITIONED,
    PUBLISHED_TABLES,
    QUARANTINE_SUMMARY_SQL,
    QUARANTINE_SUMMARY_VIEW,
    RESTATE_BY_DATE,
    SNAPSHOT_NAME,
    PublishResult,
    SnapshotUpdate,
    _columns,
    _detach,
    _relation,
    ensure_quality_views,
    existing_tables,
    published_dir,
    published_select,
    register_masking,
    remove_debris,
)


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
        (written,) = con.execute(f"insert into {dst} {published_select(name, src)}").fetchone()
    (count,) = con.execute(f"select count(*) from {dst}").fetchone()
    (expected,) = con.execute(f"select count(*) from {src}").fetchone()
    if count != expected:
        # History pruned or rewritten in the warehouse (not append-only any more): copy it whole.
        con.execute(f"delete from {dst}")
        (written,) = con.execute(f"insert into {dst} {published_select(name, src)}").fetchone()
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
    register_masking(con)
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
                    con.execute(
                        f"create table {_relation(name, alias)} as {published_select(name, _relation(name))}"
                    )
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
                for column in MASKED_COLUMNS.get(name, ()):
                    register_masking(snap)
                    snap.execute(
                        f"update {_relation(name)} set {quote_ident(column)} = {MASK_FUNCTION}({quote_ident(column)})"
                    )
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
    debris = remove_debris(out_dir)
    if debris:
        log(
            f"removed {len(debris)} leftover(s) of an interrupted publish: {', '.join(p.name for p in debris[:5])}"
        )
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
