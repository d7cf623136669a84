"""What is published, and where: the published tables, the snapshot file, the quality views."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from orchestration.lib.engines.dialect import quote_ident, quote_literal
from orchestration.lib.settings import Settings

SNAPSHOT_NAME = "healthscore_published.duckdb"

# Copied when present, in this order. The BI marts are the documented interface (docs/tables.md);
# the score, quality and load tables come along for lineage and data-quality review.
PUBLISHED_TABLES: tuple[str, ...] = (
    "bi.health_scores_current",
    "bi.fct_health_scores",
    "bi.fct_health_score_factors",
    "bi.fct_score_runs",
    "marts.dim_accounts",
    "marts.dim_features",
    "scores.score_runs",
    "scores.health_scores",
    "scores.health_scores_current",
    "scores.health_score_factors",
    "scores.health_score_rollups",
    "scores.input_batches",
    "scores.grade_changes",
    "quality.check_results",
    "quality.validated_batches",
    "raw._quarantine",
    "raw._load_batches",
    # Written by the backtesting pipeline when it has run; absent otherwise.
    "backtest.backtest_runs",
    "backtest.backtest_metrics",
)

# Columns holding a source's raw values: published with personal data masked (e-mail addresses,
# phone numbers: the masking of every published excerpt, orchestration/lib/sentiment). The live
# warehouse keeps them as loaded, for whoever may read it (docs/reliability.md).
MASKED_COLUMNS: dict[str, tuple[str, ...]] = {"raw._quarantine": ("raw_values",)}
MASK_FUNCTION = "healthscore_mask_pii"


def register_masking(con: duckdb.DuckDBPyConnection) -> None:
    """Make MASK_FUNCTION (the Python mask_pii) callable in SQL on this connection."""
    from duckdb.sqltypes import VARCHAR

    from orchestration.lib.sentiment.model import mask_pii

    try:
        con.remove_function(MASK_FUNCTION)
    except duckdb.Error:
        pass  # not registered yet
    con.create_function(MASK_FUNCTION, mask_pii, [VARCHAR], VARCHAR, side_effects=False)


def published_select(name: str, relation: str) -> str:
    """The SELECT that publishes table `name` from `relation`: masked columns replaced."""
    masked = MASKED_COLUMNS.get(name)
    if not masked:
        return f"select * from {relation}"
    replace = ", ".join(f"{MASK_FUNCTION}({quote_ident(c)}) as {quote_ident(c)}" for c in masked)
    return f"select * replace ({replace}) from {relation}"


# Files a publish writes under a temp name and renames: left behind only by an interrupted run.
DEBRIS_GLOBS = (".*.tmp", ".*.tmp.wal", "parquet/.*.tmp", "parquet/*/.*.tmp", "parquet/*/.partitioned.*.tmp")


def remove_debris(out_dir: Path) -> list[Path]:
    """Remove what interrupted publishes left (temp snapshots, half-written Parquet files and
    partition folders), so that readers globbing `**/*.parquet` never meet a partial file.
    Publishing runs one at a time (the pipeline holds the warehouse), so nothing live is removed."""
    import shutil

    removed = []
    for pattern in DEBRIS_GLOBS:
        for path in Path(out_dir).glob(pattern):
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
            removed.append(path)
    return removed


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


def _detach(con: duckdb.DuckDBPyConnection, alias: str) -> None:
    if alias in {r[0] for r in con.execute("select database_name from duckdb_databases()").fetchall()}:
        con.execute(f"detach {alias}")


def _literal(value: object) -> str:
    return f"date '{value}'" if isinstance(value, dt.date) else str(int(value))
