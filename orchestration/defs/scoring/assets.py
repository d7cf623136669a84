"""The scoring asset: scorecard -> versioned, explained health scores."""

import datetime as dt

import dagster as dg
from dagster_dbt import get_asset_key_for_model

from orchestration.defs.asset_keys import HEALTH_SCORES, scores_key
from orchestration.defs.ops.partitions import daily_partitions, start_marker
from orchestration.defs.resources import WarehouseResource
from orchestration.defs.transform.assets import healthscore_dbt_models, relation_for
from orchestration.lib.progress import Progress
from orchestration.lib.reporting.at_risk import grade_order_sql
from orchestration.lib.scoring.scorecard import load_scorecard, scorecard_in_use
from orchestration.lib.scoring.scores import HISTORY_ACCOUNT_DAYS, history_days_for, score_and_publish
from orchestration.lib.settings import project_path

FEATURES_MODEL = "fct_account_features_daily"


class ScoringConfig(dg.Config):
    scorecard: str = ""  # empty: HEALTHSCORE_SCORECARD, else scorecards/default.yml
    as_of_start: str = ""  # ISO date; empty: the same as as_of_end
    as_of_end: str = ""  # ISO date; empty: the latest as_of_date in the feature mart
    # Without as_of_start: also score this many days before as_of_end (a first run's history).
    history_days: int = 0
    # ... capped so that history x accounts stays within this many account-days: explained history
    # costs about 50 factor rows per account-day, so a large first run scores a shorter history.
    history_account_days: int = HISTORY_ACCOUNT_DAYS


def _as_of_range(context: dg.AssetExecutionContext, config: ScoringConfig, latest: dt.date):
    """Partition window when the run has one (a day, or a backfill range), else config, else the latest day."""
    if context.has_partition_key or context.has_partition_key_range:
        window = context.partition_time_window
        return window.start.date(), (window.end - dt.timedelta(days=1)).date()
    as_of_end = dt.date.fromisoformat(config.as_of_end) if config.as_of_end else latest
    if config.as_of_start:
        as_of_start = dt.date.fromisoformat(config.as_of_start)
    else:
        as_of_start = as_of_end - dt.timedelta(days=max(config.history_days - 1, 0))
    return as_of_start, as_of_end


def _columns(con, relation: str) -> set[str]:
    return set(con.columns(relation))


# The other tables one scoring run writes in the same transaction, as assets of their own so the
# lineage of the BI models that read them is exact.
PUBLISHED_TABLES = {
    "health_score_factors": "Each factor's raw value, factor score, weight, contribution and reason.",
    "health_scores_current": "The newest published score per account and objective.",
    "health_score_rollups": "Parent accounts: ARR-weighted family score, worst member named.",
    "score_runs": "Lineage per score version: scorecard version and hash, code version, run, inputs.",
    "grade_changes": "Grade drops and expired overrides per score version (what alerts send).",
}
# Tables with a row set per as_of_date, like scores/health_scores; the others hold the newest state
# or one row per score version. All share the daily partitions: a multi-asset that mixed them would
# make a UI backfill of the scoring group launch a second, unpartitioned run (seen: it re-scored
# the newest day as a version of its own).
PER_DAY_TABLES = ("health_score_factors", "health_score_rollups")


def _record_partitions_start(first: dt.date) -> None:
    """The data's first day, read by the partitions definition when the code location next loads
    (a write failure only leaves the default start)."""
    marker = start_marker()
    try:
        marker.parent.mkdir(parents=True, exist_ok=True)
        if not marker.exists() or marker.read_text().strip() != first.isoformat():
            marker.write_text(first.isoformat() + "\n")
    except OSError:
        pass


@dg.multi_asset(
    name="scores__health_scores",
    specs=[
        dg.AssetSpec(
            HEALTH_SCORES,
            deps=[get_asset_key_for_model([healthscore_dbt_models], FEATURES_MODEL)],
            description=(
                "Versioned, explained health scores (append-only history, one score_version per run)."
            ),
            group_name="scoring",
            kinds={"duckdb"},
        ),
        *[
            # No dep on scores/health_scores: written in the same transaction, and an in-asset dep
            # on a partitioned key breaks non-partitioned runs (input provenance lookup).
            dg.AssetSpec(
                scores_key(name),
                deps=[get_asset_key_for_model([healthscore_dbt_models], FEATURES_MODEL)],
                description=text,
                group_name="scoring",
                kinds={"duckdb"},
            )
            for name, text in PUBLISHED_TABLES.items()
        ],
    ],
    # Selecting only scores/health_scores is allowed: the other tables are written in the same
    # transaction either way, they just get no materialization event in that run.
    can_subset=True,
    # Daily as_of partitions; a backfill of a date range scores the whole range in one run.
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    retry_policy=dg.RetryPolicy(max_retries=2, delay=5),
)
def health_scores(context: dg.AssetExecutionContext, config: ScoringConfig, warehouse: WarehouseResource):
    features = relation_for(FEATURES_MODEL)
    path = project_path(config.scorecard or scorecard_in_use())
    with warehouse.connect() as con:
        card = load_scorecard(path, known_features=_columns(con, features))
        for note in card.notes:
            context.log.info(f"scorecard {card.name} {card.version}: {note}")
        latest = con.execute(f"select max(as_of_date) from {features}").fetchone()[0]
        if latest is None:
            raise dg.Failure(f"{features} is empty: nothing to score (is the landing zone empty?)")
        as_of_start, as_of_end = _as_of_range(context, config, latest)
        first = con.execute(f"select min(as_of_date) from {features}").fetchone()[0]
        _record_partitions_start(first)
        if config.history_days and not config.as_of_start:
            accounts = con.execute(
                f"select count(distinct account_id) from {features} where as_of_date = ?", [as_of_end]
            ).fetchone()[0]
            days = history_days_for(accounts, config.history_days, config.history_account_days)
            as_of_start = max(as_of_end - dt.timedelta(days=days - 1), first)
            context.log.info(f"history: scoring {as_of_start} to {as_of_end} ({accounts:,} accounts)")
        if as_of_end < first or as_of_start > latest:
            raise dg.Failure(
                f"no features for {as_of_start}..{as_of_end}: {features} covers {first}..{latest} "
                "(dbt builds the range given by its as_of_start/as_of_end vars)"
            )
        if as_of_start < first or as_of_end > latest:
            context.log.warning(
                f"features cover {first}..{latest}; dates of {as_of_start}..{as_of_end} outside it get no score"
            )
        run = score_and_publish(
            con,
            card,
            features_table=features,
            as_of_start=as_of_start,
            as_of_end=as_of_end,
            run_id=context.run_id,
            log=context.log.info,
            progress=Progress(context.log.info),
        )
        preview = con.execute(
            f"""select account_id, {con.dialect.round("health_score", 1)} as score, grade,
                   {con.dialect.round("confidence", 2)} as confidence, top_reasons
            from scores.health_scores
            where score_version = ? and objective = 'retention_risk' and as_of_date = ?
              and grade not in ('churned', 'insufficient_data')
            order by {grade_order_sql()}, health_score asc nulls last, account_id limit 10""",
            [run.score_version, as_of_end],
        ).df()
        counts = {
            name: con.execute(f"select count(*) from scores.{name}").fetchone()[0]
            for name in PUBLISHED_TABLES
        }
    if not (context.has_partition_key or context.has_partition_key_range):
        # A run without a partition (`healthscore run`, a first run's history) still scores days:
        # each is recorded as a partition of the per-day tables, and the newest as one of the
        # others, so the Partitions tab and every scoring node show what has scores (a partitioned
        # run gets its partitions from Dagster). Dagster's SQLite event log stores each partition
        # event apart, 55-90 ms each here: the history's days for all six tables cost 59 s more.
        keys = set(daily_partitions.get_partition_keys())
        days = [
            day.isoformat()
            for day in (
                run.as_of_start + dt.timedelta(days=n)
                for n in range((run.as_of_end - run.as_of_start).days + 1)
            )
            if day.isoformat() in keys
        ]
        per_day = {HEALTH_SCORES, *(scores_key(name) for name in PER_DAY_TABLES)}
        for key in sorted(context.selected_asset_keys, key=lambda k: k.to_user_string()):
            for day in days if key in per_day else days[-1:]:
                context.log_event(
                    dg.AssetMaterialization(
                        asset_key=key, partition=day, metadata={"score_version": run.score_version}
                    )
                )
    if HEALTH_SCORES in context.selected_asset_keys:
        yield dg.MaterializeResult(
            asset_key=HEALTH_SCORES,
            metadata={
                "score_version": run.score_version,
                "scorecard": f"{card.name} {card.version} ({card.content_hash[:12]})",
                "as_of_range": f"{run.as_of_start} to {run.as_of_end}",
                "accounts_scored": run.accounts_scored,
                "dagster/row_count": run.score_rows,
                "factor_rows": run.factor_rows,
                "grade_distribution": dg.MetadataValue.json(run.grade_counts),
                "most_at_risk": dg.MetadataValue.md(
                    preview.to_markdown(index=False) if len(preview) else "none"
                ),
                "seconds": round(run.seconds, 3),
                # Read by the grade_drop_alerts sensor (capped so the event log stays small).
                "changes": dg.MetadataValue.json(run.changes[:1000]),
                "changes_total": len(run.changes),
            },
        )
    for name, rows in counts.items():
        if scores_key(name) not in context.selected_asset_keys:
            continue
        yield dg.MaterializeResult(
            asset_key=scores_key(name),
            metadata={"dagster/row_count": rows, "score_version": run.score_version},
        )
