"""Blocking Dagster asset checks on the raw tables, backed by Great Expectations 1.x.

One `@multi_asset_check` per source, on `AssetKey(["raw", source])`, with one check per
category (completeness, validity, uniqueness, referential_integrity, staleness). The categories
share ONE validation of the source per run (see orchestration/lib/quality/); a run that
selects only some of the checks (can_subset) still validates once and reports only those.
Row-level categories look at the rows of load batches not validated before (and of batches
still failing with an error); staleness at the whole table; a source with no new batch repeats
its last verdict without running GX (the check's description says which).

A category check fails when any expectation in it fails. Its severity is ERROR when a failed
expectation has error severity (downstream assets of the raw table are then not materialized and
the run fails), else WARN (recorded, nothing blocked).
"""

import json
from collections.abc import Iterator, Sequence

import dagster as dg

from orchestration.defs.asset_keys import raw_key
from orchestration.defs.resources import WarehouseResource
from orchestration.lib.contracts.sources import get_contract
from orchestration.lib.quality.outcomes import SourceQualityResult
from orchestration.lib.quality.policy import CATEGORIES, ERROR, REFERENTIAL_INTEGRITY, STALENESS, UNIQUENESS
from orchestration.lib.quality.validate import validate_source

CATEGORY_DESCRIPTIONS = {
    "completeness": "Required columns are never null (error); optional columns are >= 90% filled (warn).",
    "validity": "Allowed values, min/max ranges and cross-field rules (warn; error where scores would "
    "be corrupted).",
    "uniqueness": "The primary key is unique within each load (warn: a re-export repeats keys across loads, "
    "staging keeps every version).",
    "referential_integrity": "Every reference exists in the referenced raw table (warn on any orphan, "
    "error above 1% orphans).",
    "staleness": "The table is not empty and its newest freshness value is recent (contract severity).",
}


# Where the reviewer looks (the check's description in the UI): a warning does not stop the rows.
LOADED_ANYWAY = (
    "Rows failing a warning (duplicates, orphans) are loaded and scored anyway (staging dedupes "
    "keys); the check's `failures` metadata and `healthscore dq` list them with a query."
)


def _specs(source: str) -> list[dg.AssetCheckSpec]:
    contract = get_contract(source)
    refs = sorted({c.references for c in contract.columns if c.references and c.references != source})
    specs = []
    for category in CATEGORIES:
        extra = {}
        if category == REFERENTIAL_INTEGRITY and refs:
            # Validate references after the referenced raw tables are loaded in the same run.
            extra["additional_deps"] = [raw_key(r) for r in refs]
        if category == STALENESS:
            description = (
                f"{CATEGORY_DESCRIPTIONS[category]} {contract.freshness_column} within "
                f"{contract.stale_after_days} days; severity {contract.stale_severity}."
            )
        else:
            description = CATEGORY_DESCRIPTIONS[category]
        if category in (UNIQUENESS, REFERENTIAL_INTEGRITY):
            description += " " + LOADED_ANYWAY
        specs.append(
            dg.AssetCheckSpec(
                name=category,
                asset=raw_key(source),
                blocking=True,
                description=description,
                **extra,
            )
        )
    return specs


def category_check_result(result: SourceQualityResult, category: str) -> dg.AssetCheckResult:
    """The Dagster result of one category check from a source's validation result."""
    rows = result.category(category)
    passed, severity = result.category_outcome(category)
    failed = [r for r in rows if not r.success]
    metadata: dict[str, object] = {
        "suite": result.suite_name,
        "quality_run_id": result.run_id,
        "validated": result.scope_summary,
        "batches_validated": len(result.batches),
        "rows_validated": result.rows_validated,
        "expectations": len(rows),
        "failed_expectations": len(failed),
        "failed_error_expectations": sum(1 for r in failed if r.severity == ERROR),
        "unexpected_count": sum(r.unexpected_count or 0 for r in rows),
        "failures": dg.MetadataValue.md(_failures_md(result.source, failed)) if failed else "none",
        "results": dg.MetadataValue.json(
            [
                {
                    "check_name": r.check_name,
                    "expectation": r.expectation,
                    "column": r.column,
                    "severity": r.severity,
                    "success": r.success,
                    "observed_value": r.observed_value,
                    "unexpected_count": r.unexpected_count,
                    "failing_sample": r.failing_sample,
                    "scope": r.scope,
                }
                for r in rows
            ]
        ),
    }
    if result.carried_from_run:
        metadata["carried_from_run"] = result.carried_from_run
    if category == STALENESS:
        fresh = [r for r in rows if r.column]
        if fresh:
            metadata["newest_value"] = str(fresh[0].observed_value)
    return dg.AssetCheckResult(
        asset_key=raw_key(result.source),
        check_name=category,
        passed=passed,
        severity=dg.AssetCheckSeverity.ERROR if severity == ERROR else dg.AssetCheckSeverity.WARN,
        metadata=metadata,
        description=(f"{len(failed)} of {len(rows)} expectations failed" if failed else "passed")
        + f" ({result.scope_summary if category != STALENESS else 'whole table'})",
    )


def _failures_md(source: str, failed: Sequence) -> str:
    """Each failed expectation: rows failing of rows checked, what it means for the scores, the
    whole sample and the query that lists the rows with their file, row number and batch."""
    from orchestration.lib.quality.review import failing_rows_query, suite_expectations

    suite = suite_expectations(source)
    parts = []
    for r in failed:
        count = "table-level" if r.unexpected_count is None else f"{r.unexpected_count:,} rows failed"
        if r.unexpected_count is not None and r.rows_checked:
            count += f" of {r.rows_checked:,} checked"
        consequence = (
            "**error**: blocks everything downstream of this table"
            if r.severity == ERROR
            else "warning: not blocking, these rows were loaded and are scored"
        )
        parts.append(f"**{r.check_name}**: {count}; {consequence}.")
        if r.failing_sample:
            parts.append("\n".join(f"- `{json.dumps(item, default=str)}`" for item in r.failing_sample))
        query = failing_rows_query(source, suite.get(r.check_name))
        if query:
            parts.append(
                f"Rows (on the warehouse: `healthscore sql --db <warehouse>`):\n```sql\n{query};\n```"
            )
    return "\n\n".join(parts)


def _build_source_check(source: str) -> dg.AssetChecksDefinition:
    @dg.multi_asset_check(
        name=f"raw_{source}_quality",
        specs=_specs(source),
        can_subset=True,
        description=f"Great Expectations quality gates on raw.{source} (one validation for all categories).",
    )
    def _check(
        context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource
    ) -> Iterator[dg.AssetCheckResult]:
        result = validate_source(
            warehouse.warehouse_path, source, run_id=context.run.run_id, engine=warehouse.engine_kind
        )
        failed = [r.check_name for r in result.failures]
        context.log.info(
            f"raw.{source}: {result.scope_summary}; {len(result.results)} expectations, {len(failed)} failed "
            f"({result.seconds:.2f} s)" + (f": {', '.join(failed)}" if failed else "")
        )
        selected = {key.name for key in context.selected_asset_check_keys}
        for category in CATEGORIES:
            if category in selected:
                yield category_check_result(result, category)

    return _check


def build_quality_checks(sources: list[str]) -> list[dg.AssetChecksDefinition]:
    """One blocking multi-asset check per source: checks `<category>` on asset raw/<source>."""
    return [_build_source_check(source) for source in sources]
