"""Run the suites inside the warehouse (DuckDB, PostgreSQL or Spark) through a GX SQL datasource.

Every expectation is compiled to SQL; only counts and small samples come back to Python. The GX
engines are disposed afterwards so DuckDB's file lock is released."""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from orchestration.lib.contracts.sources import CONTRACTS, get_contract
from orchestration.lib.engines.dialect import DIALECTS
from orchestration.lib.engines.factory import engine_name, open_engine
from orchestration.lib.engines.warehouse import retry_while_locked, warehouse_settings
from orchestration.lib.quality.outcomes import (
    SCOPE_ROWS,
    SCOPE_TABLE,
    ExpectationOutcome,
    SourceQualityResult,
    _missing_table_outcomes,
    _outcome,
    _utc_naive,
)
from orchestration.lib.quality.plan import _nothing_to_check, _plan_sources, _SourcePlan, _staleness_outcomes
from orchestration.lib.quality.policy import (
    ERROR,
    FRESHNESS_CUTOFF_PARAM,
    NOT_PROVIDED,
    SAMPLE_SIZE,
    STALENESS,
    WARN,
    reference_time,
)
from orchestration.lib.quality.results import write_results
from orchestration.lib.quality.rules import Rule, suite_name
from orchestration.lib.quality.suites import _gx, _suite

_CONTEXT: Any = None


def _context() -> Any:
    """One ephemeral GX context per process (creating one costs about a second): the Dagster
    checks of every source in a run reuse it. Datasources are added and removed per call."""
    global _CONTEXT
    if _CONTEXT is None:
        gx = _gx()
        from great_expectations.data_context.types.base import ProgressBarsConfig

        context = gx.get_context(mode="ephemeral")
        context.variables.progress_bars = ProgressBarsConfig(globally=False)
        _CONTEXT = context
    return _CONTEXT


def _found_rows(gx_result: Any) -> bool:
    """Whether a SUMMARY result has failing rows or values worth a sample (or failed otherwise)."""
    if not gx_result.success:
        return True
    result = gx_result.result or {}
    if result.get("unexpected_count"):
        return True
    observed = result.get("observed_value")
    is_rows_rule = gx_result.expectation_config.type == "unexpected_rows_expectation"
    return is_rows_rule and isinstance(observed, int | float) and observed > 0


def _validate_gx(
    context: Any,
    datasource: Any,
    plan: _SourcePlan,
    cutoff: dt.datetime,
    spark: Any = None,
    engine: str = "duckdb",
) -> list[ExpectationOutcome]:
    """GX validation of the plan's rows to validate (row-level rules), plus staleness of the whole
    table: by GX too when every batch is new (one validation), else from the plan's SQL."""
    contract = get_contract(plan.source)
    result_format = {
        "result_format": "COMPLETE",  # row samples of UnexpectedRowsExpectation need it
        "partial_unexpected_count": SAMPLE_SIZE,
        "unexpected_index_column_names": [contract.primary_key],
        "return_unexpected_index_query": False,
    }
    if spark is not None:  # a GX Spark datasource over the raw table (or its new rows)

        def frame(name: str, query: str):
            return (
                datasource.add_dataframe_asset(name=name)
                .add_batch_definition_whole_dataframe(name)
                .get_batch(batch_parameters={"dataframe": spark.sql(DIALECTS["spark"].requote(query))})
            )

    if plan.whole_table:  # every batch is new: one validation of the whole table, as before
        batch = (
            frame(plan.source, f"select * from raw.{plan.source}")
            if spark is not None
            else datasource.add_table_asset(name=plan.source, table_name=plan.source, schema_name="raw")
            .add_batch_definition_whole_table("whole_table")
            .get_batch()
        )
        rules, staleness = plan.rules, []
    else:  # the new rows through GX; staleness of the whole table from the plan's SQL (same rules)
        batch = (
            frame(f"{plan.source}__new_rows", plan.rows_query())
            if spark is not None
            else datasource.add_query_asset(name=f"{plan.source}__new_rows", query=plan.rows_query())
            .add_batch_definition_whole_table("new_rows")
            .get_batch()
        )
        rules, staleness = plan.row_rules, _staleness_outcomes(plan, cutoff)
    by_name = {r.check_name: r for r in plan.rules}

    def validate(name: str, subset: Sequence[Rule], result_format: Any) -> list[Any]:
        suite = _suite(name, plan.source, subset)
        if engine != "duckdb":
            _engine_queries(suite, spark is not None)
        suite = context.suites.add_or_update(suite)
        return batch.validate(
            suite, result_format=result_format, expectation_parameters={FRESHNESS_CUTOFF_PARAM: cutoff}
        ).results

    # Two passes: counts for every expectation (SUMMARY), then row samples (COMPLETE, which costs
    # extra queries per expectation: on Spark each is a job) only for those that found rows.
    # Where nothing was found both formats say the same, so the outcome equals one COMPLETE pass.
    results = validate(suite_name(plan.source), rules, {"result_format": "SUMMARY"})
    detail = [r for r in results if _found_rows(r)]
    if detail:
        names = {r.expectation_config.meta["check_name"] for r in detail}
        again = validate(
            f"{suite_name(plan.source)}__samples",
            [rule for rule in rules if rule.check_name in names],
            result_format,
        )
        redone = {r.expectation_config.meta["check_name"]: r for r in again}
        results = [redone.get(r.expectation_config.meta["check_name"], r) for r in results]
    outcomes = []
    for res in results:
        rule = by_name[res.expectation_config.meta["check_name"]]
        outcome = _outcome(rule, res)
        if rule.category == STALENESS:
            outcome.scope, outcome.rows_checked = SCOPE_TABLE, plan.rows
            if rule.column and not outcome.success:
                outcome.failing_sample = [
                    {"newest": outcome.observed_value, "stale_before": cutoff.isoformat()}
                ]
        else:
            outcome.scope, outcome.rows_checked = SCOPE_ROWS, sum(b.rows for b in plan.to_validate)
        outcomes.append(outcome)
    return outcomes + staleness


def validate_sources(
    warehouse_path: Path | str,
    sources: Iterable[str] | None = None,
    *,
    now: dt.datetime | None = None,
    run_id: str | None = None,
    persist: bool = True,
    incremental: bool = True,
    engine: str | None = None,
) -> dict[str, SourceQualityResult]:
    """Validate the raw tables of `sources` (default: all contracts) inside the warehouse.

    Row-level rules run on the rows of load batches not validated before (and of batches whose
    latest verdict is error); staleness on the whole table; a source with nothing new repeats its
    latest verdict without running GX. `incremental=False` validates every row. `now` is the
    reference time for staleness (default: the current UTC time, moved by HEALTHSCORE_TODAY; naive datetimes are UTC). With
    `persist`, result rows are appended to quality.check_results and batch verdicts to
    quality.validated_batches (without it, the next run validates the same batches again).
    The DuckDB file must not be held by another process (nor by a connection with another
    configuration in this one) during the call; GX's engines are disposed before it returns,
    so the file lock is free afterwards.

    `engine` (default: $HEALTHSCORE_ENGINE): on DuckDB and PostgreSQL the suites run through a
    GX SQL datasource, on Spark through a GX Spark datasource over the raw tables (queries in
    Spark SQL); `warehouse_path` matters on DuckDB only.
    """
    engine = engine or engine_name()
    sources = list(sources or CONTRACTS)
    for s in sources:
        get_contract(s)
    now = _utc_naive(now if now is not None else reference_time())
    run_id = run_id or f"adhoc-{uuid.uuid4().hex[:12]}"
    checked_at = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    path = Path(warehouse_path).resolve()
    if engine == "duckdb" and not path.exists():
        raise FileNotFoundError(f"warehouse not found: {path}")

    planning = time.perf_counter()
    with open_engine(engine, duckdb_path=path, read_only=True) as con:
        plans = _plan_sources(con, sources, incremental)
    planning = (time.perf_counter() - planning) / max(len(sources), 1)

    results: dict[str, SourceQualityResult] = {}
    need_gx = [s for s in sources if plans[s].exists and plans[s].to_validate]
    datasource = spark = None
    try:
        if need_gx:
            context = _context()
            name = f"warehouse_{uuid.uuid4().hex[:8]}"
            if engine == "spark":
                from orchestration.lib.engines.spark import spark_session

                spark = spark_session()
                datasource = context.data_sources.add_spark(name=name)
            elif engine == "postgres":
                from orchestration.lib.engines.postgres import postgres_url

                datasource = context.data_sources.add_postgres(name=name, connection_string=postgres_url())
            else:
                cap_gx_duckdb_connections()
                datasource = context.data_sources.add_sql(name=name, connection_string=f"duckdb:///{path}")
        for source in sources:
            started = time.perf_counter()
            plan = plans[source]
            out = SourceQualityResult(source, suite_name(source), run_id, checked_at)
            results[source] = out
            if not plan.exists:
                out.results = _missing_table_outcomes(source)
                continue
            cutoff = now - dt.timedelta(days=get_contract(source).stale_after_days)
            if plan.to_validate:
                out.results = _validate_gx(context, datasource, plan, cutoff, spark, engine)
                out.ran_gx = True
            else:
                out.results = (plan.carried or _nothing_to_check(plan)) + _staleness_outcomes(plan, cutoff)
                out.carried_from_run = plan.carried_from_run
            if not plan.provided:  # never delivered: scoring goes on without it (warning)
                for outcome in out.category(STALENESS):
                    outcome.severity = WARN
                    outcome.observed_value = NOT_PROVIDED
                    outcome.failing_sample = [{"reason": NOT_PROVIDED}]
            rows_level = [o for o in out.results if o.scope == SCOPE_ROWS]
            verdict = (
                ERROR
                if any(o.blocking for o in rows_level)
                else WARN
                if any(not o.success for o in rows_level)
                else "passed"
            )
            for batch in plan.to_validate:
                batch.verdict = verdict
            out.batches = plan.to_validate
            order = {r.check_name: i for i, r in enumerate(plan.rules)}
            out.results.sort(key=lambda o: order.get(o.check_name, len(order)))
            out.seconds = time.perf_counter() - started + planning
    finally:
        if datasource is not None:
            dispose_datasource(datasource)
            _context().data_sources.delete(datasource.name)
    if persist:
        write_results(
            path, results.values(), rules_hashes={s: p.rules_hash for s, p in plans.items()}, engine=engine
        )
    return results


def _cap_duckdb(dbapi_connection: Any, _record: Any) -> None:
    if type(dbapi_connection).__module__.startswith("duckdb_engine"):
        for statement in warehouse_settings():
            dbapi_connection.execute(statement)


def _connect_when_unlocked(dialect: Any, _record: Any, cargs: Any, cparams: Any) -> Any:
    """GX's DuckDB connections wait while a reader holds the file, like the pipeline's own
    (orchestration/lib/engines/warehouse.py)."""
    target = cparams.get("database") or (cargs[0] if cargs else "the warehouse")
    return retry_while_locked(lambda: dialect.connect(*cargs, **cparams), target)


def cap_gx_duckdb_connections() -> None:
    """Give GX's own DuckDB connections the pipeline's memory cap and offline flags.

    GX opens the warehouse through SQLAlchemy (duckdb_engine), a DuckDB instance of its own that
    would otherwise take DuckDB's default of 80 % of RAM: at L (48.5M usage events) the
    uniqueness and referential checks of one source took the process past 6 GiB with a 3 GB cap
    set everywhere else. A SET on connect (not a connect-time config) so the connection never
    differs in configuration from another one the process holds on the same file.
    """
    import duckdb_engine
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    if not event.contains(Engine, "connect", _cap_duckdb):
        event.listen(Engine, "connect", _cap_duckdb)
    # do_connect is a dialect event: it fires only when listened on the concrete dialect class.
    if not event.contains(duckdb_engine.Dialect, "do_connect", _connect_when_unlocked):
        event.listen(duckdb_engine.Dialect, "do_connect", _connect_when_unlocked)


def dispose_datasource(datasource: Any) -> None:
    """Close every connection GX holds on the DuckDB file (else the file lock stays taken)."""
    engine = getattr(datasource, "_execution_engine", None)
    if engine is not None:
        connection = getattr(engine, "_connection", None)
        if connection is not None:
            connection.close()
            engine._connection = None
        if hasattr(engine, "engine"):  # SQL engines; a Spark datasource holds no connection
            engine.engine.dispose()
    sa_engine = getattr(datasource, "_engine", None)
    if sa_engine is not None:
        sa_engine.dispose()


def _engine_queries(suite: Any, spark: bool) -> None:
    """The rules' SQL for PostgreSQL and Spark. GX substitutes `{batch}` with an unaliased
    subquery in a query that has a JOIN (DuckDB accepts that, PostgreSQL does not): alias it
    there. Spark SQL quotes identifiers with backticks ("x" is a string literal there)."""
    from great_expectations.expectations.metrics.query_metric_provider import _query_has_join_clause

    for expectation in suite.expectations:
        query = getattr(expectation, "unexpected_rows_query", None)
        if not isinstance(query, str):
            continue
        if _query_has_join_clause(query):
            query = query.replace("select * from {batch})", "select * from {batch} as batch_rows)")
        expectation.unexpected_rows_query = DIALECTS["spark"].requote(query) if spark else query


def validate_source(warehouse_path: Path | str, source: str, **kwargs: Any) -> SourceQualityResult:
    return validate_sources(warehouse_path, [source], **kwargs)[source]
