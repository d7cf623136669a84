"""Parquet exported from the snapshot: one file per small table, one file per score version or
as_of_date for the history tables; every file written to a temp name and renamed."""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from orchestration.lib.engines.dialect import quote_ident, quote_literal
from orchestration.lib.engines.warehouse import connect
from orchestration.lib.publish.tables import (
    PARQUET_PARTITION,
    PARQUET_UNPARTITIONED,
    QUARANTINE_SUMMARY_VIEW,
    SnapshotUpdate,
    _detach,
    _literal,
    _relation,
    existing_tables,
)


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
