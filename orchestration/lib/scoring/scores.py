"""Score, explain and publish: versioned, append-only score tables with lineage.

One call scores a range of as_of dates with a scorecard (SQL compiled by scoring_sql),
applies human overrides, rolls scores up to parent accounts and publishes everything in
one transaction: readers see the previous version until the new one is complete, and a
failed run leaves the last good version in place.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from importlib.metadata import PackageNotFoundError, version

import duckdb

from orchestration.lib.engines.base import Engine
from orchestration.lib.engines.dialect import create_table_sql
from orchestration.lib.engines.factory import as_engine
from orchestration.lib.scoring.compile import compile_scoring, final_grade_sql, grade_sql, lit
from orchestration.lib.scoring.scorecard import Scorecard
from orchestration.lib.settings import PROJECT_ROOT

SCORE_TABLES_DDL = {
    "score_runs": """
        score_version bigint primary key,
        run_id varchar not null,
        scorecard_name varchar not null,
        scorecard_version varchar not null,
        scorecard_hash varchar not null,
        code_version varchar not null,
        input_batches_id varchar not null,
        as_of_start date not null,
        as_of_end date not null,
        accounts_scored bigint not null,
        score_rows bigint not null,
        seconds double not null,
        computed_at timestamp not null
    """,
    "input_batches": """
        input_batches_id varchar not null,
        batch_id varchar not null,
        source varchar not null,
        source_file varchar not null,
        loaded_at timestamp not null
    """,
    "health_scores": """
        score_version bigint not null,
        account_id varchar not null,
        as_of_date date not null,
        objective varchar not null,
        segment varchar,
        industry varchar,
        owner varchar,
        parent_account_id varchar,
        health_score double,
        grade varchar not null,
        computed_score double,
        computed_grade varchar,
        confidence double not null,
        coverage double not null,
        missing_factors varchar,
        is_churned boolean not null,
        churned_on date,
        arr double,
        churn_probability double,
        arr_at_risk double,
        top_reasons varchar,
        previous_score double,
        score_change double,
        change_drivers varchar,
        override_id varchar,
        override_action varchar,
        override_author varchar,
        override_reason varchar,
        override_expires_at timestamp,
        scorecard_name varchar not null,
        scorecard_version varchar not null,
        scorecard_hash varchar not null,
        code_version varchar not null,
        run_id varchar not null,
        input_batches_id varchar not null,
        computed_at timestamp not null
    """,
    "health_score_factors": """
        score_version bigint not null,
        account_id varchar not null,
        as_of_date date not null,
        objective varchar not null,
        factor varchar not null,
        factor_label varchar not null,
        factor_group varchar not null,
        owner varchar not null,
        feature varchar not null,
        raw_value double,
        raw_text varchar,
        factor_score double,
        nominal_weight double not null,
        weight double not null,
        contribution double not null,
        impact double not null,
        reason varchar,
        scorecard_version varchar not null,
        run_id varchar not null
    """,
    "grade_changes": """
        score_version bigint not null,
        account_id varchar not null,
        objective varchar not null,
        change_kind varchar not null,
        old_grade varchar,
        new_grade varchar,
        old_as_of_date date,
        new_as_of_date date,
        old_score double,
        new_score double,
        top_reasons varchar,
        change_drivers varchar,
        override_id varchar,
        override_reason varchar,
        run_id varchar not null
    """,
    "health_score_rollups": """
        score_version bigint not null,
        parent_account_id varchar not null,
        as_of_date date not null,
        objective varchar not null,
        rollup_score double,
        rollup_grade varchar,
        accounts_in_rollup bigint not null,
        total_arr double,
        worst_account_id varchar,
        worst_account_score double,
        run_id varchar not null
    """,
}


SCORE_TEMP_TABLES = (
    "_sc_wide",
    "_sc_wide_scores",
    "_sc_factors",
    "_sc_ranked_reasons",
    "_sc_base_scores",
    "_sc_change_drivers",
    "_sc_scores",
    "_sc_final",
    "_sc_current",
)


@dataclass
class ScoreRun:
    score_version: int
    run_id: str
    as_of_start: dt.date
    as_of_end: dt.date
    accounts_scored: int
    score_rows: int
    factor_rows: int
    grade_counts: dict[str, int]
    seconds: float
    stage_seconds: dict[str, float]
    changes: list[dict]


# A first run scores a history too; its explanations cost about 50 factor rows per account-day,
# so the history is capped at this many account-days (90 days at 1,000 accounts, 5 at 20,000).
HISTORY_ACCOUNT_DAYS = 100_000


def history_days_for(accounts: int, history_days: int, account_days: int = HISTORY_ACCOUNT_DAYS) -> int:
    """Days of first-run history to score for this many accounts (at least the newest day)."""
    return max(1, min(history_days, account_days // max(accounts, 1)))


# Account-days scored per chunk: bounds the temp tables (~50 factor rows per account-day).
CHUNK_ACCOUNT_DAYS = 200_000


def _account_slices(
    engine: Engine, features_table: str, start: dt.date, end: dt.date, accounts: int, account_days: int
) -> list[tuple[str | None, str | None]]:
    """[first, stop) ranges of account ids of about `account_days` accounts each (one open range
    when one day's accounts fit); boundaries come from the engine's own ordering of the ids."""
    if accounts <= account_days:
        return [(None, None)]
    step = -(-accounts // -(-accounts // max(account_days, 1)))  # even slices
    rows = engine.execute(
        f"""select account_id from (
                select account_id, row_number() over (order by account_id) as rn
                from (select distinct account_id from {features_table}
                      where as_of_date between cast({lit(start.isoformat())} as date)
                          and cast({lit(end.isoformat())} as date)) as ids
            ) as numbered
            where rn > 1 and mod(rn - 1, {step}) = 0
            order by account_id"""
    ).fetchall()
    bounds = [None, *(r[0] for r in rows), None]
    return list(zip(bounds[:-1], bounds[1:], strict=True))


def _chunks(start: dt.date, end: dt.date, days: int):
    while start <= end:
        stop = min(end, start + dt.timedelta(days=max(days, 1) - 1))
        yield start, stop
        start = stop + dt.timedelta(days=1)


def _grade_rank(column: str) -> str:
    """green 3 > yellow 2 > red 1; other grades (churned, insufficient_data) are not ranked."""
    return f"(case {column} when 'green' then 3 when 'yellow' then 2 when 'red' then 1 else 0 end)"


@cache
def code_version() -> str:
    """Package version plus the git commit when run from a checkout."""
    try:
        base = version("healthscore")
    except PackageNotFoundError:
        base = "0.0.0+unknown"

    def git(*args: str, check: bool) -> str:
        return subprocess.run(
            ["git", *args], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=5, check=check
        ).stdout.strip()

    try:
        sha = git("rev-parse", "--short=12", "HEAD", check=True)
        dirty = git("status", "--porcelain", "--untracked-files=no", check=False)
        return f"{base}+g{sha}{'.dirty' if dirty else ''}"
    except (OSError, subprocess.SubprocessError):
        return base


def ensure_score_tables(con: duckdb.DuckDBPyConnection | Engine) -> None:
    engine = as_engine(con)
    engine.create_schema("scores")
    for name, ddl in SCORE_TABLES_DDL.items():
        engine.execute(create_table_sql(engine.dialect, f"scores.{name}", ddl))
    engine.execute(
        create_table_sql(engine.dialect, "scores.health_scores_current", SCORE_TABLES_DDL["health_scores"])
    )
    # A warehouse made by an older version gains the columns added since (nullable, so the old
    # rows read NULL there: churn_probability did not exist when they were scored).
    for table, ddl in (
        *SCORE_TABLES_DDL.items(),
        ("health_scores_current", SCORE_TABLES_DDL["health_scores"]),
    ):
        have = set(engine.columns(f"scores.{table}"))
        for line in ddl.split(","):
            name = line.split()[0]
            col_type = {"double": engine.dialect.float_type, "varchar": engine.dialect.string_type}.get(
                line.split()[1], line.split()[1]
            )
            if name in have or "not null" in line or "primary key" in line:
                continue
            if engine.name == "spark":
                engine.execute(f"alter table scores.{table} add columns ({name} {col_type})")
            else:
                engine.execute(f"alter table scores.{table} add column {name} {col_type}")


def _overrides_relation(overrides_table: str | None) -> str:
    if overrides_table:
        return overrides_table
    # Latest loaded version of each override record.
    return """(select * from (
        select *, row_number() over (partition by override_id order by _loaded_at desc, _row_number desc) as rn
        from raw.overrides) as o where rn = 1)"""


def insert_select(engine: Engine, table: str, select: str) -> None:
    """INSERT ... BY NAME on every engine: the select's columns, placed in the table's order
    (columns the select lacks get NULL)."""
    have = set(engine.columns(f"({select}) as _cols"))
    cols = ", ".join(c if c in have else "null" for c in engine.columns(table))
    engine.execute(f"insert into {table} select {cols} from ({select}) as _by_name")


def compute_scores(
    con: duckdb.DuckDBPyConnection | Engine,
    card: Scorecard,
    *,
    features_table: str,
    as_of_start: dt.date,
    as_of_end: dt.date,
    overrides_table: str | None = None,
    accounts: tuple[str | None, str | None] = (None, None),
) -> dict[str, float]:
    """Score [as_of_start, as_of_end] into temp tables without publishing anything.

    Leaves `_sc_factors` (long form, including the comparison dates before as_of_start) and
    `_sc_final` (one row per account x date x objective, overrides applied) on the connection;
    `drop_score_temp_tables` removes them. Returns seconds per stage.
    """
    engine = as_engine(con)
    d = engine.dialect
    stage_seconds: dict[str, float] = {}

    t0 = time.perf_counter()
    for name, select in compile_scoring(card, features_table, as_of_start, as_of_end, d, accounts):
        engine.create_temp(name, select)
    stage_seconds["compute"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    overrides = _overrides_relation(overrides_table)
    # The newest override made on or before the date and not yet expired applies.
    engine.create_temp(
        "_sc_final",
        f"""
        select *, {final_grade_sql(card, d)} as grade
        from (
            select s.*, o.override_id, o.action as override_action, o.grade as override_grade,
                o.author as override_author, o.reason as override_reason,
                o.expires_at as override_expires_at,
                case
                    when s.is_churned then s.computed_score
                    when o.action = 'set_score' then greatest(0.0, least(100.0, o.value))
                    when o.action = 'adjust_score'
                        then greatest(0.0, least(100.0, s.computed_score + coalesce(o.value, 0.0)))
                    else s.computed_score
                end as final_score
            from _sc_scores as s
            left join (
                select * from (
                    select ov.*, sc.as_of_date as applies_on, row_number() over (
                        partition by ov.account_id, ov.objective, sc.as_of_date
                        order by ov.created_at desc, ov.override_id desc
                    ) as override_rank
                    from {overrides} as ov
                    inner join (select distinct account_id, as_of_date from _sc_scores) as sc
                        on sc.account_id = ov.account_id
                        and ov.created_at < {d.add_days("sc.as_of_date", 1)}
                        and (ov.expires_at is null or ov.expires_at >= {d.add_days("sc.as_of_date", 1)})
                ) as ranked where override_rank = 1
            ) as o
                on o.account_id = s.account_id and o.objective = s.objective and o.applies_on = s.as_of_date
        ) as with_overrides
        """,
    )
    stage_seconds["overrides"] = time.perf_counter() - t0
    return stage_seconds


def drop_score_temp_tables(con: duckdb.DuckDBPyConnection | Engine) -> None:
    engine = as_engine(con)
    for name in SCORE_TEMP_TABLES:
        engine.drop_temp(name)
    if engine.name == "spark":  # the parts of the factor union (scoring_sql.compile_scoring)
        for view in engine.spark.catalog.listTables():
            if view.isTemporary and view.name.startswith("_sc_factors_part_"):
                engine.drop_temp(view.name)


def score_and_publish(
    con: duckdb.DuckDBPyConnection | Engine,
    card: Scorecard,
    *,
    features_table: str,
    as_of_start: dt.date,
    as_of_end: dt.date,
    run_id: str,
    overrides_table: str | None = None,
    log: Callable[[str], None] | None = None,
    chunk_days: int = 31,
    chunk_account_days: int = CHUNK_ACCOUNT_DAYS,
    progress: Callable[[str], object] | None = None,
) -> ScoreRun:
    """Score [as_of_start, as_of_end] and publish it as one new score version.

    Long ranges are computed in chunks of at most `chunk_days` days and about
    `chunk_account_days` account-days (slices of account ids when one day holds more accounts),
    so memory stays bounded and the time grows linearly with account-days (the long-form factor
    rows, ~50 per account-day, of one day of 1,000,000 accounts do not fit at once, nor a year
    of 20,000 accounts); every chunk is inserted inside
    the same transaction, so readers still see all of a version or none of it (on engines with
    transactions: DuckDB and PostgreSQL; on Spark the score_runs row, written last, marks a
    complete version).
    """
    engine = as_engine(con)
    d = engine.dialect
    log = log or (lambda _m: None)
    progress = progress or (lambda _m: None)  # a Progress (orchestration/lib/progress.py): long ranges
    started = time.perf_counter()
    ensure_score_tables(engine)
    stage_seconds: dict[str, float] = {}

    batches = engine.execute(
        "select batch_id, source, source_file, loaded_at from raw._load_batches order by batch_id"
    ).fetchall()
    input_batches_id = hashlib.sha256("\n".join(b[0] for b in batches).encode()).hexdigest()[:16]
    computed_at = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    code = code_version()
    lineage = (
        f"{lit(card.name)} as scorecard_name, {lit(card.version)} as scorecard_version, "
        f"{lit(card.content_hash)} as scorecard_hash, {lit(code)} as code_version, "
        f"{lit(run_id)} as run_id, {lit(input_batches_id)} as input_batches_id, "
        f"cast({lit(computed_at.isoformat(sep=' '))} as timestamp) as computed_at"
    )
    score_columns = engine.columns("scores.health_scores")
    current_columns = ", ".join(score_columns)

    t0 = time.perf_counter()
    engine.begin()
    try:
        score_version = engine.execute(
            "select coalesce(max(score_version), 0) + 1 from scores.score_runs"
        ).fetchone()[0]
        accounts = engine.execute(
            f"""select count(distinct account_id) from {features_table}
                where as_of_date between cast({lit(as_of_start.isoformat())} as date)
                    and cast({lit(as_of_end.isoformat())} as date)"""
        ).fetchone()[0]
        days_per_chunk = max(1, min(chunk_days, chunk_account_days // max(accounts, 1)))
        slices = _account_slices(engine, features_table, as_of_start, as_of_end, accounts, chunk_account_days)
        chunks = [
            (cs, ce, n_slice, sl)
            for cs, ce in _chunks(as_of_start, as_of_end, days_per_chunk)
            for n_slice, sl in enumerate(slices, start=1)
        ]
        for n_chunk, (chunk_start, chunk_end, n_slice, account_slice) in enumerate(chunks, start=1):
            t1 = time.perf_counter()
            for stage, seconds in compute_scores(
                engine,
                card,
                features_table=features_table,
                as_of_start=chunk_start,
                as_of_end=chunk_end,
                overrides_table=overrides_table,
                accounts=account_slice,
            ).items():
                stage_seconds[stage] = stage_seconds.get(stage, 0.0) + seconds
            progress(f"chunk {n_chunk} of {len(chunks)} ({chunk_start} to {chunk_end}) computed, writing")
            t2 = time.perf_counter()
            insert_select(
                engine,
                "scores.health_scores",
                f"""
                select {score_version} as score_version, account_id, as_of_date, objective, segment, industry,
                    owner, parent_account_id, final_score as health_score, grade, computed_score,
                    banded_grade as computed_grade, confidence, coverage, missing_factors, is_churned,
                    churned_on, arr, churn_probability, churn_probability * arr as arr_at_risk,
                    top_reasons, previous_score, score_change, change_drivers,
                    override_id, override_action, override_author, override_reason, override_expires_at,
                    {lineage}
                from _sc_final
                """,
            )
            insert_select(
                engine,
                "scores.health_score_factors",
                f"""
                select {score_version} as score_version, account_id, as_of_date, objective, factor,
                    factor_label, factor_group, owner, feature, raw_value, raw_text, factor_score, nominal_weight,
                    weight, contribution, impact, reason,
                    {lit(card.version)} as scorecard_version, {lit(run_id)} as run_id
                from _sc_factors
                where as_of_date between cast({lit(chunk_start.isoformat())} as date)
                    and cast({lit(chunk_end.isoformat())} as date)
                """,
            )
            drop_score_temp_tables(engine)
            stage_seconds["insert"] = stage_seconds.get("insert", 0.0) + time.perf_counter() - t2
            part = "" if len(slices) == 1 else f", accounts slice {n_slice}/{len(slices)}"
            if len(chunks) > 1:
                log(
                    f"scored chunk {n_chunk}/{len(chunks)}: {chunk_start} to {chunk_end}{part} "
                    f"in {time.perf_counter() - t1:.1f}s"
                )
            progress(f"scored chunk {n_chunk} of {len(chunks)}: {chunk_start} to {chunk_end}{part}")
        # Rollups once over the whole version (a family's accounts may sit in different slices).
        t2 = time.perf_counter()
        engine.create_temp(
            "_sc_new_scores",
            f"""select account_id, parent_account_id, as_of_date, objective, health_score as final_score, arr
            from scores.health_scores where score_version = {score_version}""",
        )
        rollups = f"""
            select {score_version} as score_version, rollup_id as parent_account_id, as_of_date, objective,
                case when max(total_arr) > 0 then sum(final_score * coalesce(arr, 0.0)) / max(total_arr)
                     else avg(final_score) end as rollup_score,
                count(*) as accounts_in_rollup,
                max(total_arr) as total_arr,
                max(case when worst_rank = 1 then account_id end) as worst_account_id,
                max(case when worst_rank = 1 then final_score end) as worst_account_score,
                {lit(run_id)} as run_id
            from (
                select *,
                    sum(coalesce(arr, 0.0)) over (partition by rollup_id, as_of_date, objective) as total_arr,
                    row_number() over (
                        partition by rollup_id, as_of_date, objective order by final_score asc, account_id
                    ) as worst_rank
                from (
                    select parent_account_id as rollup_id, account_id, as_of_date, objective,
                        final_score, arr
                    from _sc_new_scores where parent_account_id is not null and final_score is not null
                    union all
                    select p.account_id, p.account_id, p.as_of_date, p.objective, p.final_score, p.arr
                    from _sc_new_scores as p
                    where p.final_score is not null
                        and exists (
                            select 1 from _sc_new_scores as c
                            where c.parent_account_id = p.account_id and c.as_of_date = p.as_of_date
                                and c.objective = p.objective
                        )
                ) as family
            ) as weighted
            group by rollup_id, as_of_date, objective
        """
        insert_select(
            engine,
            "scores.health_score_rollups",
            f"select r.*, {grade_sql(card, 'r.rollup_score', d)} as rollup_grade from ({rollups}) as r",
        )
        engine.drop_temp("_sc_new_scores")
        stage_seconds["insert"] = stage_seconds.get("insert", 0.0) + time.perf_counter() - t2
        known = engine.execute(
            "select count(*) from scores.input_batches where input_batches_id = ?", [input_batches_id]
        ).fetchone()[0]
        if batches and not known:
            _insert_rows(engine, "scores.input_batches", [(input_batches_id, *b) for b in batches])
        # Current = newest as_of_date per account and objective, newest version within it.
        engine.create_temp(
            "_sc_current",
            f"""
            select {current_columns} from (
                select *, row_number() over (
                    partition by account_id, objective order by as_of_date desc, score_version desc
                ) as current_rank
                from (
                    select {current_columns} from scores.health_scores_current
                    union all
                    select {current_columns} from scores.health_scores where score_version = {score_version}
                ) as candidates
            ) as ranked where current_rank = 1
            """,
        )
        # Alerts: grades that dropped, and overrides that stopped applying because they expired.
        insert_select(
            engine,
            "scores.grade_changes",
            f"""
            select {score_version} as score_version, n.account_id, n.objective,
                case when {_grade_rank("n.grade")} < {_grade_rank("o.grade")} then 'grade_drop'
                     else 'override_expired' end as change_kind,
                o.grade as old_grade, n.grade as new_grade, o.as_of_date as old_as_of_date,
                n.as_of_date as new_as_of_date, o.health_score as old_score, n.health_score as new_score,
                n.top_reasons, n.change_drivers, o.override_id, o.override_reason, {lit(run_id)} as run_id
            from _sc_current as n
            inner join scores.health_scores_current as o
                on o.account_id = n.account_id and o.objective = n.objective
            where n.score_version = {score_version}
              and ({_grade_rank("n.grade")} < {_grade_rank("o.grade")}
                   or (o.override_id is not null and n.override_id is null
                       and o.override_expires_at < {d.add_days("n.as_of_date", 1)}))
            """,
        )
        engine.replace_rows("scores.health_scores_current", f"select {current_columns} from _sc_current")
        counts = engine.execute(
            f"""select count(*), count(distinct account_id) from scores.health_scores
                where score_version = {score_version}"""
        ).fetchone()
        factor_rows = engine.execute(
            f"select count(*) from scores.health_score_factors where score_version = {score_version}"
        ).fetchone()[0]
        grade_counts = dict(
            engine.execute(
                f"""select grade, count(*) from scores.health_scores
                    where score_version = {score_version} and objective = 'retention_risk'
                    and as_of_date = cast({lit(as_of_end.isoformat())} as date)
                    group by grade order by grade"""
            ).fetchall()
        )
        cursor = engine.execute(
            f"""select account_id, objective, change_kind, old_grade, new_grade,
                cast(new_as_of_date as {d.string_type}) as as_of_date, {d.round("old_score", 1)} as old_score,
                {d.round("new_score", 1)} as new_score, top_reasons, change_drivers, override_id, override_reason
            from scores.grade_changes where score_version = {score_version}
            order by change_kind, account_id, objective"""
        )
        names = [d_[0] for d_ in cursor.description]
        changes = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
        seconds = time.perf_counter() - started
        _insert_rows(
            engine,
            "scores.score_runs",
            [
                (
                    score_version,
                    run_id,
                    card.name,
                    card.version,
                    card.content_hash,
                    code,
                    input_batches_id,
                    as_of_start,
                    as_of_end,
                    counts[1],
                    counts[0],
                    seconds,
                    computed_at,
                )
            ],
        )
        engine.commit()
    except BaseException:
        engine.rollback()
        raise
    stage_seconds["publish"] = time.perf_counter() - t0
    drop_score_temp_tables(engine)
    log(
        f"score version {score_version}: {counts[0]:,} score rows for {counts[1]:,} accounts, "
        f"{as_of_start} to {as_of_end}, in {seconds:.2f}s"
    )
    return ScoreRun(
        score_version=score_version,
        run_id=run_id,
        as_of_start=as_of_start,
        as_of_end=as_of_end,
        accounts_scored=counts[1],
        score_rows=counts[0],
        factor_rows=factor_rows,
        grade_counts=grade_counts,
        seconds=time.perf_counter() - started,
        stage_seconds=stage_seconds,
        changes=changes,
    )


def _insert_rows(engine: Engine, table: str, rows: list[tuple]) -> None:
    """A few literal rows (lineage records), in the table's column order."""
    if engine.name == "spark":
        import pyarrow as pa

        columns = engine.columns(table)
        data = pa.Table.from_pylist([dict(zip(columns, r, strict=True)) for r in rows])
        engine.append_arrow(table, data.to_batches())
    else:
        marks = ", ".join("?" for _ in rows[0])
        engine.executemany(f"insert into {table} values ({marks})", rows)
