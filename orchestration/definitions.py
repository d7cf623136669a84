"""The healthscore code location: one Definitions assembled from defs/."""

import dagster as dg

from orchestration.defs.backtest.assets import backtest_default_scorecard
from orchestration.defs.ingest.assets import attribute_values, ingest_assets
from orchestration.defs.ops.schedules import daily_refresh
from orchestration.defs.ops.sensors import grade_drop_alerts, landing_files_sensor
from orchestration.defs.publish.assets import published_snapshot
from orchestration.defs.quality.checks import build_quality_checks
from orchestration.defs.resources import WarehouseResource, default_warehouse
from orchestration.defs.scoring.assets import health_scores
from orchestration.defs.sentiment.assets import text_scores
from orchestration.defs.transform.assets import healthscore_dbt_models
from orchestration.lib.contracts.sources import CONTRACTS

# Steps run in one process: a process per step costs 2-4 s each (measured), and DuckDB allows
# one writer per file, so parallel steps would only queue on the lock.
healthscore_all = dg.define_asset_job(
    "healthscore_all",
    selection=dg.AssetSelection.all()
    - dg.AssetSelection.groups("backtest"),  # on demand: docs/backtesting.md
    description="Ingest every landing source, gate quality, build the dbt models and publish scores.",
    executor_def=dg.in_process_executor,
)


def build_definitions(warehouse: WarehouseResource | None = None) -> dg.Definitions:
    return dg.Definitions(
        assets=[
            *ingest_assets,
            attribute_values,
            healthscore_dbt_models,
            text_scores,
            health_scores,
            published_snapshot,
            backtest_default_scorecard,
        ],
        asset_checks=build_quality_checks(list(CONTRACTS)),
        jobs=[healthscore_all],
        schedules=[daily_refresh],
        sensors=[landing_files_sensor, grade_drop_alerts],
        resources={"warehouse": warehouse or default_warehouse()},
        executor=dg.in_process_executor,
    )


defs = build_definitions()
