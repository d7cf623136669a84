"""dbt models as Dagster assets: staging -> intermediate -> marts."""

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, dbt_assets

from orchestration.defs.resources import WarehouseResource
from orchestration.defs.transform.inprocess import run_dbt
from orchestration.defs.transform.project import dbt_project
from orchestration.lib import staging_builds
from orchestration.lib.engines.warehouse import wait_for_warehouse
from orchestration.lib.quality.policy import reference_date

# A model's key is <schema>/<name>; in the staging and intermediate schemas the name's layer
# prefix repeats the schema, and the asset graph cuts names longer than 31 characters (18 when
# zoomed out, where four int_account_..._daily models all read "int_account…_daily").
KEY_PREFIXES_DROPPED = {"staging": "stg_", "intermediate": "int_"}


class HealthscoreDbtTranslator(DagsterDbtTranslator):
    """Keys are <schema>/<model> without the layer prefix the schema already says
    (staging/billing__invoices is the table staging.stg_billing__invoices); groups follow the dbt
    folders (staging, intermediate, marts), and the published BI marts (marts/bi, downstream of
    scoring) get a group of their own; descriptions are the models' own (dagster-dbt appends the
    raw SQL, which the asset's code view shows already)."""

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        key = super().get_asset_key(dbt_resource_props)
        prefix = KEY_PREFIXES_DROPPED.get(key.path[0]) if len(key.path) == 2 else None
        if dbt_resource_props.get("resource_type") == "model" and prefix and key.path[1].startswith(prefix):
            return dg.AssetKey([key.path[0], key.path[1].removeprefix(prefix)])
        return key

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        fqn = dbt_resource_props.get("fqn", [])
        if dbt_resource_props.get("resource_type") == "model" and len(fqn) > 2:
            return "bi" if fqn[1:3] == ["marts", "bi"] else fqn[1]
        if dbt_resource_props.get("resource_type") == "source":
            # The raw tables are the ingest assets'; a loader table no asset declares
            # (raw._attribute_values) sits beside them, not in a group named "default".
            return "ingest"
        return super().get_group_name(dbt_resource_props)

    def get_description(self, dbt_resource_props: Mapping[str, Any]) -> str:
        description = (dbt_resource_props.get("description") or "").strip()
        return (
            description
            or f"dbt {dbt_resource_props.get('resource_type', 'model')} {dbt_resource_props['name']}"
        )


class DbtBuildConfig(dg.Config):
    """The as_of range the point-in-time marts are built for (ISO dates; empty: derive from data)."""

    as_of_start: str = ""
    as_of_end: str = ""
    # Rebuild the incremental models from scratch (the feature mart: the last year).
    full_refresh: bool = False


TRANSLATOR = HealthscoreDbtTranslator()


@dbt_assets(
    manifest=dbt_project.manifest_path,
    dagster_dbt_translator=TRANSLATOR,
)
def healthscore_dbt_models(
    context: dg.AssetExecutionContext,
    config: DbtBuildConfig,
    warehouse: WarehouseResource,
):
    # The dbt profile reads the warehouse path and its target (the engine) from the environment:
    # keep them the resource's.
    os.environ["HEALTHSCORE_WAREHOUSE"] = warehouse.warehouse_path
    os.environ["HEALTHSCORE_ENGINE"] = warehouse.engine_kind
    # On Spark, dbt (in process, session method) shares the process's Spark session.
    dbt_vars = {k: v for k, v in (("as_of_start", config.as_of_start), ("as_of_end", config.as_of_end)) if v}
    window = _run_partition_window(context.run.tags)
    if window and not dbt_vars:
        # A partitioned run (a day, or a backfill range) builds the features of exactly those
        # days; the incremental mart keeps the others (int_as_of_range: a first build on an
        # empty mart also builds the year before, for trends and backtests).
        dbt_vars = {"as_of_start": window[0], "as_of_end": window[1]}
    if dbt_vars:
        context.log.info(f"dbt vars: {dbt_vars}")
    # The as_of range never passes today (or HEALTHSCORE_REFERENCE_DATE): a record dated in the
    # future that reached raw anyway cannot move the scores' date (int_as_of_range).
    dbt_vars["reference_date"] = reference_date().isoformat()
    # A reader holding the warehouse file: wait for it here (dbt-duckdb does not retry).
    if warehouse.engine_kind == "duckdb":
        wait_for_warehouse(warehouse.warehouse_path, log=context.log.warning)
    args = ["build"]  # runs the dbt unit tests too, each before its model is built
    if dbt_vars:
        args += ["--vars", json.dumps(dbt_vars)]
    if config.full_refresh:
        context.log.info("full refresh: incremental models are rebuilt from scratch")
        args += ["--full-refresh"]
    # Staging tables whose code and raw batches are those of their last build are left out of a
    # run (not --full-refresh), with the tests on them alone, and so are the unit tests that
    # passed on the same code (orchestration/lib/staging_builds.py).
    current: dict[str, str] = {}

    def leave_out(models: list[str], manifest: Mapping[str, Any]) -> list[str]:
        if warehouse.engine_kind not in staging_builds.ENGINES:
            return []
        unit_tests = staging_builds.unit_test_fingerprints(manifest, models)
        if not (unit_tests or staging_builds.candidates(manifest, models)):
            return []
        try:
            with warehouse.connect() as engine:
                current.update(staging_builds.fingerprints(engine, manifest, models, dbt_vars))
                current.update(unit_tests)
                if config.full_refresh:
                    staging_builds.forget(engine)
                    return []
                return staging_builds.unchanged(engine, manifest, current)
        except Exception as exc:  # noqa: BLE001 - e.g. no raw tables yet: build everything, dbt reports
            current.clear()
            context.log.warning(
                f"every staging model is built (their last builds could not be checked: {exc})"
            )
            return []

    # In process (inprocess.py): no dbt start-up or project parse per step.
    built = yield from run_dbt(
        context,
        args,
        project_dir=Path(dbt_project.project_dir),
        manifest_path=Path(dbt_project.manifest_path),
        translator=TRANSLATOR,
        leave_out=leave_out,
    )
    recorded = {uid: current[uid] for uid in built if uid in current}
    if recorded:
        with warehouse.connect() as engine:
            staging_builds.record(engine, recorded, context.run_id)


def _run_partition_window(tags: Mapping[str, str]) -> tuple[str, str] | None:
    if "dagster/partition" in tags:
        return tags["dagster/partition"], tags["dagster/partition"]
    start = tags.get("dagster/asset_partition_range_start")
    end = tags.get("dagster/asset_partition_range_end")
    return (start, end) if start and end else None


def relation_for(model: str) -> str:
    """schema.table of a dbt model, read from the manifest (schemas differ per target)."""
    manifest = json.loads(Path(dbt_project.manifest_path).read_text())
    for node in manifest["nodes"].values():
        if node.get("resource_type") == "model" and node["name"] == model:
            return f"{node['schema']}.{node.get('alias') or node['name']}"
    raise KeyError(f"dbt model {model!r} is not in {dbt_project.manifest_path}; run `make manifest`")
