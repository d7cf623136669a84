"""Validation proportional to new data: which load batches each source must validate this run.

Row-level rules run on batches not validated before (and on batches still failing with an error);
staleness on the whole table; a source with nothing new carries its earlier verdict."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from orchestration.lib.contracts.sources import get_contract
from orchestration.lib.engines.dialect import quote_ident, quote_literal
from orchestration.lib.quality.outcomes import (
    BATCHES_TABLE,
    NO_BATCH,
    RESULTS_TABLE,
    SCOPE_CARRIED,
    SCOPE_ROWS,
    SCOPE_TABLE,
    BatchVerdict,
    ExpectationOutcome,
    _json_safe,
    rule_outcome,
)
from orchestration.lib.quality.policy import ERROR, STALENESS
from orchestration.lib.quality.rules import _GX_TYPE, Rule, plan_rules, rules_hash

# A run validates the rows of the load batches (`_batch_id` of raw.<source>) that have no verdict
# yet, plus every batch whose latest verdict is error: an unresolved error keeps blocking each
# run until a re-check of its rows passes (the bad rows were fixed or deleted from raw, or the
# referenced rows they missed have arrived). Verdicts are kept per batch in
# quality.validated_batches. A batch is known by its id, its load time (a raw table rebuilt from
# the landing files is validated again) and the hash of the source's row-level rules (a changed
# contract or policy re-validates every batch of that source once).
#
# - Row-level rules (completeness, validity, uniqueness, referential integrity, cross-source) run
#   on those rows only; uniqueness looks their keys up in the whole table, referential integrity
#   and cross-source rules look up the whole referenced tables.
# - Staleness is a fact of the whole table (row count, newest value), evaluated every run.
# - A source with nothing to validate runs no GX at all: its staleness comes from one SQL query
#   (the same two rules, the same outcome) and the row-level outcomes of its latest validation
#   are repeated with scope "carried". Every run's rows in quality.check_results are therefore the
#   current verdict of every check.


@dataclass
class _SourcePlan:
    source: str
    exists: bool
    rules: list[Rule] = field(default_factory=list)
    rules_hash: str = ""
    rows: int = 0
    newest: Any = None
    provided: bool = True  # has rows, or at least one load batch
    batches: dict[str, tuple[int, dt.datetime | None]] = field(default_factory=dict)
    to_validate: list[BatchVerdict] = field(default_factory=list)
    carried: list[ExpectationOutcome] = field(default_factory=list)
    carried_from_run: str | None = None

    @property
    def row_rules(self) -> list[Rule]:
        return [r for r in self.rules if r.category != STALENESS]

    @property
    def table_rules(self) -> list[Rule]:
        return [r for r in self.rules if r.category == STALENESS]

    @property
    def whole_table(self) -> bool:
        return len(self.to_validate) == len(self.batches)

    def rows_query(self) -> str:
        """The rows of the batches to validate."""
        ids = [b.batch_id for b in self.to_validate if b.batch_id != NO_BATCH]
        conditions = [f"_batch_id in ({', '.join(quote_literal(i) for i in ids)})"] if ids else []
        if len(ids) < len(self.to_validate):
            conditions.append("_batch_id is null")
        return f"select * from raw.{quote_ident(self.source)} where {' or '.join(conditions)}"


def _table_names(con: Any, schema: str) -> set[str]:
    if getattr(con, "name", "") == "spark":  # no information_schema on Spark's Hive catalog
        if not con.spark.catalog.databaseExists(schema):
            return set()
        return {t.name for t in con.spark.catalog.listTables(schema) if not t.isTemporary}
    return {
        r[0]
        for r in con.execute(
            "select table_name from information_schema.tables where table_schema = ?", [schema]
        ).fetchall()
    }


def _plan_sources(con: Any, sources: Sequence[str], incremental: bool) -> dict[str, _SourcePlan]:
    """What each source needs this run (plain DuckDB, no GX): batches to validate or a verdict to carry."""
    raw_tables = _table_names(con, "raw")
    quality_tables = _table_names(con, "quality") if incremental else set()
    has_verdicts = "validated_batches" in quality_tables and "check_results" in quality_tables
    if has_verdicts:  # results written before incremental validation have no scope column
        has_verdicts = "scope" in con.columns(RESULTS_TABLE)
    plans: dict[str, _SourcePlan] = {}
    for source in sources:
        if source not in raw_tables:
            plans[source] = _SourcePlan(source, exists=False)
            continue
        contract = get_contract(source)
        rules = plan_rules(source, raw_tables)
        plan = _SourcePlan(source, True, rules, rules_hash(rules))
        plans[source] = plan
        q = con.dialect.q  # Spark quotes with backticks
        table = f"raw.{q(source)}"
        plan.rows, plan.newest = con.execute(
            f"select count(*), max({q(contract.freshness_column)}) from {table}"
        ).fetchone()
        for batch_id, n, loaded_at in con.execute(
            f"select coalesce(_batch_id, ''), count(*), min(_loaded_at) from {table} group by 1 order by 1"
        ).fetchall():
            plan.batches[batch_id] = (n, loaded_at)
        if not plan.rows:
            plan.provided = "_load_batches" in raw_tables and bool(
                con.execute("select count(*) from raw._load_batches where source = ?", [source]).fetchone()[0]
            )
        latest: dict[tuple[str, Any], str] = {}
        if has_verdicts:
            for batch_id, loaded_at, verdict in con.execute(
                f"""select batch_id, loaded_at, verdict from (
                    select batch_id, loaded_at, verdict, row_number() over (
                        partition by batch_id, loaded_at order by checked_at desc) as newest
                    from {BATCHES_TABLE} where source = ? and rules_hash = ?
                ) as verdicts where newest = 1""",
                [source, plan.rules_hash],
            ).fetchall():
                latest[(batch_id, loaded_at)] = verdict
        for batch_id, (n, loaded_at) in plan.batches.items():
            verdict = latest.get((batch_id, loaded_at))
            if verdict is None or verdict == ERROR:
                plan.to_validate.append(BatchVerdict(batch_id, loaded_at, n, reopened=verdict == ERROR))
        if plan.to_validate or not plan.batches:
            continue
        # Nothing new: repeat the row-level outcomes of the latest validation of this source.
        # Without them (results pruned, rules changed) every batch is validated again.
        row = con.execute(
            f"select run_id from {BATCHES_TABLE} where source = ? and rules_hash = ? "
            "order by checked_at desc limit 1",
            [source, plan.rules_hash],
        ).fetchone()
        carried = _carried_outcomes(con, plan, row[0]) if row else None
        if carried is None:
            plan.to_validate = [
                BatchVerdict(b, loaded_at, n, reopened=latest.get((b, loaded_at)) == ERROR)
                for b, (n, loaded_at) in plan.batches.items()
            ]
        else:
            plan.carried, plan.carried_from_run = carried, row[0]
    return plans


def _carried_outcomes(con: Any, plan: _SourcePlan, run_id: str) -> list[ExpectationOutcome] | None:
    rows = con.execute(
        f"""select check_name, expectation, severity, passed, observed_value, unexpected_count, failing_sample
        from {RESULTS_TABLE} where run_id = ? and source = ? and scope in ('{SCOPE_ROWS}', '{SCOPE_CARRIED}')""",
        [run_id, plan.source],
    ).fetchall()
    by_name = {r[0]: r for r in rows}
    if set(by_name) != {r.check_name for r in plan.row_rules}:
        return None
    outcomes = []
    for rule in plan.row_rules:
        _, expectation, severity, passed, observed, unexpected, sample = by_name[rule.check_name]
        try:
            failing = json.loads(sample) if sample else []
        except json.JSONDecodeError:
            failing = [sample]
        outcomes.append(
            rule_outcome(
                rule,
                expectation,
                bool(passed),
                observed,
                unexpected,
                failing,
                source=plan.source,
                severity=severity,
                scope=SCOPE_CARRIED,
                carried_from_run=run_id,
            )
        )
    return outcomes


def _staleness_outcomes(plan: _SourcePlan, cutoff: dt.datetime) -> list[ExpectationOutcome]:
    """The staleness rules from the plan's row count and newest value: what GX's
    ExpectTableRowCountToBeBetween(min 1) and ExpectColumnMaxToBeBetween(min cutoff) conclude."""
    outcomes = []
    for rule in plan.table_rules:
        if rule.column is None:  # not_empty
            success, observed = plan.rows >= 1, plan.rows
            sample: list[Any] = [] if success else [{"observed_value": observed}]
            expectation = "expect_table_row_count_to_be_between"
        else:  # fresh
            newest = plan.newest
            as_datetime = (
                dt.datetime.combine(newest, dt.time())
                if isinstance(newest, dt.date) and not isinstance(newest, dt.datetime)
                else newest
            )
            success = as_datetime is not None and as_datetime >= cutoff
            observed = _json_safe(as_datetime)  # GX reports a date column's max as a datetime too
            sample = [] if success else [{"newest": observed, "stale_before": cutoff.isoformat()}]
            expectation = "expect_column_max_to_be_between"
        outcomes.append(
            rule_outcome(
                rule,
                expectation,
                success,
                observed,
                None,
                sample,
                source=plan.source,
                scope=SCOPE_TABLE,
                rows_checked=plan.rows,
            )
        )
    return outcomes


def _nothing_to_check(plan: _SourcePlan) -> list[ExpectationOutcome]:
    """Row-level rules on a table without rows: nothing can fail (GX agrees on an empty batch)."""
    return [
        rule_outcome(
            r,
            _GX_TYPE.get(r.expectation, r.expectation),
            True,
            None,
            0,
            [],
            source=plan.source,
            scope=SCOPE_ROWS,
            rows_checked=0,
        )
        for r in plan.row_rules
    ]
