"""One ingest asset per landing source: landing files -> raw.<source>."""

import datetime as dt

import dagster as dg

from orchestration.defs.asset_keys import raw_key
from orchestration.defs.resources import WarehouseResource
from orchestration.lib.contracts.sources import CONTRACTS, SourceContract
from orchestration.lib.engines.warehouse import WarehouseLockedError
from orchestration.lib.ingest.files import IngestError
from orchestration.lib.ingest.loader import load_source_into


def build_ingest_asset(contract: SourceContract) -> dg.AssetsDefinition:
    @dg.asset(
        key=raw_key(contract.name),
        group_name="ingest",
        description=f"{contract.description} Loaded from the landing zone folder `{contract.name}/`.",
        kinds={"duckdb"},
        tags={"layer": "raw"},
        retry_policy=dg.RetryPolicy(max_retries=2, delay=2),
        # Freshness in the UI (asset page, asset health): ingestion of this source must have run
        # within the contract's staleness limit. How old the newest *record* is shows in the
        # materialization metadata below and is gated by the `staleness` quality check.
        freshness_policy=dg.FreshnessPolicy.time_window(
            fail_window=dt.timedelta(days=contract.stale_after_days),
            warn_window=dt.timedelta(hours=contract.stale_after_days * 12),
        ),
    )
    def _ingest(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
        try:
            with warehouse.connect() as con:
                result = load_source_into(con, contract.name, warehouse.landing, log=context.log.info)
                totals = con.execute(
                    f"select count(*), count(distinct _batch_id), max({contract.freshness_column}) "
                    f"from {contract.raw_table}"
                ).fetchone()
        except (IngestError, WarehouseLockedError) as exc:
            # Whole-file problems are not transient: fail at once, naming the file. A reader that
            # held the warehouse past the wait was already waited for (the wait is the retry).
            raise dg.Failure(description=str(exc), allow_retries=False) from exc
        return dg.MaterializeResult(
            metadata={
                "files_new": len(result.new_files),
                "files_skipped_already_loaded": len(result.files) - len(result.new_files),
                "rows_landed": result.rows_landed,
                "rows_loaded": result.rows_loaded,
                "rows_quarantined": result.rows_quarantined,
                "batch_ids": dg.MetadataValue.json(result.batch_ids),
                "dagster/row_count": totals[0],
                "batches_total": totals[1],
                # data freshness: the newest record, and the contract's limit for it
                f"newest_{contract.freshness_column}": str(totals[2]) if totals[2] is not None else "none",
                "stale_after_days": contract.stale_after_days,
                "seconds": round(result.seconds, 3),
            }
        )

    return _ingest


ingest_assets = [build_ingest_asset(c) for c in CONTRACTS.values()]

# Written by the accounts and subscriptions loads (declared custom attributes, docs/features.md) and
# read by the custom-feature models: declared here so the graph shows where it comes from.
attribute_values = dg.AssetSpec(
    raw_key("_attribute_values"),
    group_name="ingest",
    description=(
        "Custom attribute values of the loaded accounts and subscriptions, one row per record and "
        "declared attribute; written by raw/accounts and raw/subscriptions in the same load."
    ),
    deps=[raw_key("accounts"), raw_key("subscriptions")],
    kinds={"duckdb"},
)
