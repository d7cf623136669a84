"""dbt models as Dagster assets: staging -> intermediate -> marts."""

import datetime as dt
import json
import os
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, dbt_assets

from orchestration.defs.resources import WarehouseResource
from orchestration.defs.transform.project import dbt_project


class HealthscoreDbtTranslator(DagsterDbtTranslator):
    """Groups follow the dbt folders (staging, intermediate, marts)."""

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        fqn = dbt_resource_props.get("fqn", [])
        if dbt_resource_props.get("resource_type") == "model" and len(fqn) > 2:
            return fqn[1]
        return super().get_group_name(dbt_resource_props)


class DbtBuildConfig(dg.Config):
    """The as_of range the point-in-time marts are built for (ISO dates; empty: derive from data)."""

    as_of_start: str = ""
    as_of_end: str = ""


@dbt_assets(
    manifest=dbt_project.manifest_path,
    dagster_dbt_translator=HealthscoreDbtTranslator(),
)
def healthscore_dbt_models(
    context: dg.AssetExecutionContext,
    dbt: DbtCliResource,
    config: DbtBuildConfig,
    warehouse: WarehouseResource,
):
    # The dbt profile reads the warehouse path from the environment: keep it the resource's.
    os.environ["HEALTHSCORE_WAREHOUSE"] = warehouse.warehouse_path
    dbt_vars = {k: v for k, v in (("as_of_start", config.as_of_start), ("as_of_end", config.as_of_end)) if v}
    window = _run_partition_window(context.run.tags)
    if window and not dbt_vars:
        # A partitioned run (a day, or a backfill range): build features through its last day,
        # keeping at least a year of history for trends and backtests.
        start, end = window
        year_before = (dt.date.fromisoformat(end) - dt.timedelta(days=364)).isoformat()
        dbt_vars = {"as_of_start": min(start, year_before), "as_of_end": end}
    if dbt_vars:
        context.log.info(f"dbt vars: {dbt_vars}")
    args = ["build"]
    if dbt_vars:
        args += ["--vars", json.dumps(dbt_vars)]
    invocation = dbt.cli(args, context=context)
    yield from invocation.stream()
    _prune_run_folder(invocation.target_path)


def _run_partition_window(tags: Mapping[str, str]) -> tuple[str, str] | None:
    if "dagster/partition" in tags:
        return tags["dagster/partition"], tags["dagster/partition"]
    start = tags.get("dagster/asset_partition_range_start")
    end = tags.get("dagster/asset_partition_range_end")
    return (start, end) if start and end else None


def _prune_run_folder(target_path: Path) -> None:
    # dagster-dbt writes a fresh target/<run> folder per invocation (STACK.md): keep only the manifest's.
    if target_path and target_path.exists() and target_path != dbt_project.target_path:
        shutil.rmtree(target_path, ignore_errors=True)


def dbt_resource() -> DbtCliResource:
    # The venv may not be activated (cron, CI): point at its dbt explicitly.
    executable = Path(sys.executable).parent / "dbt"
    return DbtCliResource(
        project_dir=dbt_project,
        dbt_executable=str(executable) if executable.exists() else "dbt",
    )


def relation_for(model: str) -> str:
    """schema.table of a dbt model, read from the manifest (schemas differ per target)."""
    manifest = json.loads(Path(dbt_project.manifest_path).read_text())
    for node in manifest["nodes"].values():
        if node.get("resource_type") == "model" and node["name"] == model:
            return f"{node['schema']}.{node.get('alias') or node['name']}"
    raise KeyError(f"dbt model {model!r} is not in {dbt_project.manifest_path}; run `make manifest`")
