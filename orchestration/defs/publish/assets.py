"""The publish asset: a read-only snapshot, Parquet files, the health report and Data Docs.

Runs after scoring and the BI marts, so readers (BI tools, the DuckDB CLI, the report) get the
newest complete state without touching the live warehouse file the pipeline writes.
"""

import os

import dagster as dg
from dagster_dbt import get_asset_key_for_model

from orchestration.defs.asset_keys import HEALTH_SCORES, PUBLISHED_SNAPSHOT
from orchestration.defs.resources import WarehouseResource
from orchestration.defs.transform.assets import healthscore_dbt_models
from orchestration.lib.publish.tables import published_dir

BI_MODELS = (
    "health_scores_current",
    "fct_health_scores",
    "fct_health_score_factors",
    "fct_score_runs",
    "dim_accounts",
)
POSTGRES_DSN_ENV = "HEALTHSCORE_POSTGRES_DSN"


class PublishConfig(dg.Config):
    out_dir: str = ""  # empty: $HEALTHSCORE_PUBLISHED_DIR or <data dir>/published
    parquet: bool = True
    full: bool = False  # rewrite the snapshot and every Parquet file instead of adding new versions
    report: bool = True
    data_docs: bool = True


@dg.asset(
    key=PUBLISHED_SNAPSHOT,
    group_name="publish",
    deps=[
        HEALTH_SCORES,
        *(get_asset_key_for_model([healthscore_dbt_models], m) for m in BI_MODELS),
    ],
    kinds={"duckdb", "parquet"},
    description=(
        "Read-only DuckDB snapshot (healthscore_published.duckdb) and Parquet files of the BI marts, "
        "score, quality and quarantine tables, written atomically and incrementally (new score versions "
        "only); plus report.html and GX Data Docs. "
        f"Also replaces the tables in PostgreSQL when ${POSTGRES_DSN_ENV} is set."
    ),
)
def published_snapshot(
    context: dg.AssetExecutionContext, config: PublishConfig, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    from pathlib import Path

    from orchestration.lib.publish.postgres import export_postgres
    from orchestration.lib.publish.snapshot import publish
    from orchestration.lib.reporting.health_report import at_risk_preview, grade_distribution

    out_dir = Path(config.out_dir) if config.out_dir else published_dir()
    with warehouse.connect() as con:
        result = publish(
            con, out_dir, parquet=config.parquet, incremental=not config.full, log=context.log.info
        )
    metadata: dict = {
        "snapshot": dg.MetadataValue.path(str(result.snapshot_path)),
        "parquet_dir": dg.MetadataValue.path(str(result.parquet_dir)),
        "score_version": result.score_version,
        "row_counts": dg.MetadataValue.md(
            "| table | rows |\n|---|---:|\n"
            + "\n".join(f"| {name} | {n:,} |" for name, n in result.row_counts.items())
        ),
        "dagster/row_count": result.row_counts.get("bi.health_scores_current", 0),
        "publish_seconds": round(result.seconds, 3),
        "snapshot_seconds": round(result.snapshot_seconds, 3),
        "incremental": result.incremental,
        "rows_written": sum(result.rows_written.values()),
        "parquet_files_written": len(result.parquet_files),
    }
    grades = grade_distribution(result.snapshot_path)
    metadata["grade_distribution"] = dg.MetadataValue.json(grades)
    metadata["most_at_risk"] = dg.MetadataValue.md(at_risk_preview(result.snapshot_path, limit=10))
    if config.report:
        from orchestration.lib.reporting.health_report import write_report

        report = write_report(result.snapshot_path, out_dir / "report.html")
        metadata["report"] = dg.MetadataValue.path(str(report))
    if config.data_docs:
        from orchestration.lib.quality.data_docs import build_data_docs

        index = build_data_docs(result.snapshot_path, out_dir / "data_docs")
        metadata["data_docs"] = dg.MetadataValue.path(str(index))
    dsn = os.environ.get(POSTGRES_DSN_ENV)
    if dsn:
        counts = export_postgres(dsn, result.snapshot_path, log=context.log.info)
        metadata["postgres_tables"] = len(counts)
    return dg.MaterializeResult(metadata=metadata)
