"""Publish the warehouse for readers that must never block (or be blocked by) the pipeline.

DuckDB allows one writer process per file and a reader of the live file takes its lock, so BI
clients read copies instead (STACK.md, "DuckDB concurrency"):

- a read-only DuckDB snapshot, `data/published/healthscore_published.duckdb`, copied from the
  live warehouse in one read transaction into a temp file that is then renamed over the old one
  (`os.replace`: a reader opens either the old complete file or the new complete file);
- one Parquet file per table, `data/published/parquet/<schema>.<table>.parquet`, exported from that
  snapshot, each written to a temp file and renamed;
- optionally the same tables in PostgreSQL (`export_postgres`), replaced in one transaction.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

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


def write_snapshot(
    con: duckdb.DuckDBPyConnection, snapshot_path: Path, tables: Iterable[str] = PUBLISHED_TABLES
) -> dict[str, int]:
    """Copy `tables` (those that exist) from the warehouse `con` into a new DuckDB file, atomically.

    The copy reads in one transaction, so the snapshot is one consistent state of the warehouse.
    Returns the row count of every table copied.
    """
    snapshot_path = Path(snapshot_path)
    snapshot_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = snapshot_path.with_name(f".{snapshot_path.name}.{uuid.uuid4().hex[:8]}.tmp")
    present = existing_tables(con)
    wanted = [t for t in tables if t in present]
    alias = "published_snapshot"
    counts: dict[str, int] = {}
    con.execute(f"attach {quote_literal(str(tmp))} as {alias}")
    try:
        con.execute("begin transaction")
        try:
            for schema in sorted({t.split(".")[0] for t in wanted}):
                con.execute(f"create schema if not exists {alias}.{quote_ident(schema)}")
            for name in wanted:
                con.execute(f"create table {_relation(name, alias)} as select * from {_relation(name)}")
                counts[name] = con.execute(f"select count(*) from {_relation(name, alias)}").fetchone()[0]
            if "raw._quarantine" in counts:
                con.execute(f"create schema if not exists {alias}.quality")
                con.execute(f"create view {alias}.{QUARANTINE_SUMMARY_VIEW} as {QUARANTINE_SUMMARY_SQL}")
            con.execute("commit")
        except BaseException:
            con.execute("rollback")
            raise
        con.execute(f"checkpoint {alias}")
    finally:
        con.execute(f"detach {alias}")
    wal = Path(str(tmp) + ".wal")
    if wal.exists():  # checkpointed above; a leftover WAL would belong to the temp name only
        wal.unlink()
    os.replace(tmp, snapshot_path)
    return counts


def write_parquet(snapshot_path: Path, parquet_dir: Path) -> list[Path]:
    """Export every table of the snapshot to <schema>.<table>.parquet (temp file, then rename)."""
    parquet_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    with connect(snapshot_path, read_only=True) as snap:
        for name in sorted(existing_tables(snap) - {QUARANTINE_SUMMARY_VIEW}):
            target = parquet_dir / f"{name}.parquet"
            tmp = parquet_dir / f".{name}.{uuid.uuid4().hex[:8]}.tmp"
            snap.execute(
                f"copy (select * from {_relation(name)}) to {quote_literal(str(tmp))} (format parquet, compression zstd)"
            )
            os.replace(tmp, target)
            written.append(target)
    return written


def publish(
    con: duckdb.DuckDBPyConnection,
    out_dir: Path | None = None,
    *,
    parquet: bool = True,
    log: Callable[[str], None] = lambda _msg: None,
) -> PublishResult:
    """Snapshot + Parquet export of the warehouse behind `con` into `out_dir`."""
    started = time.perf_counter()
    out_dir = Path(out_dir or published_dir())
    result = PublishResult(snapshot_path=out_dir / SNAPSHOT_NAME, parquet_dir=out_dir / "parquet")
    ensure_quality_views(con)
    result.row_counts = write_snapshot(con, result.snapshot_path)
    log(f"snapshot {result.snapshot_path}: {len(result.row_counts)} tables")
    if parquet:
        result.parquet_files = write_parquet(result.snapshot_path, result.parquet_dir)
        log(f"parquet: {len(result.parquet_files)} files in {result.parquet_dir}")
    if "scores.score_runs" in result.row_counts:
        with connect(result.snapshot_path, read_only=True) as snap:
            result.score_version = snap.execute(
                "select max(score_version) from scores.score_runs"
            ).fetchone()[0]
    manifest = {
        "published_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "score_version": result.score_version,
        "row_counts": result.row_counts,
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
