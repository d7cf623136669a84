"""The whole pipeline on demo data, as `make run` runs it: ingest -> quality gates -> dbt -> scores.

The tests in this module share one warehouse and run in file order: a first run, a rerun,
a backfill of past dates, then a run that a blocking check stops.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from orchestration.defs.resources import WarehouseResource
from orchestration.lib.demo.generate import generate_demo_data
from tests.dates import DEMO_END_DATE, pinned_env

pytestmark = pytest.mark.slow

ACCOUNTS = 300
DAYS = 365


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("pipeline")
    mp = pytest.MonkeyPatch()
    warehouse = root / "warehouse" / "healthscore.duckdb"
    mp.setenv("HEALTHSCORE_WAREHOUSE", str(warehouse))
    mp.setenv("HEALTHSCORE_LANDING_DIR", str(root / "landing"))
    for name, value in pinned_env().items():
        mp.setenv(name, value)
    summary = generate_demo_data(
        root / "landing", accounts=ACCOUNTS, days=DAYS, seed=7, end_date=DEMO_END_DATE
    )
    from orchestration.definitions import build_definitions

    defs = build_definitions(
        WarehouseResource(warehouse_path=str(warehouse), landing_dir=str(root / "landing"))
    )
    instance = dg.DagsterInstance.ephemeral()
    yield {"root": root, "warehouse": warehouse, "defs": defs, "instance": instance, "summary": summary}
    mp.undo()


def _run(env, run_config=None, raise_on_error=True):
    job = env["defs"].resolve_job_def("healthscore_all")
    return job.execute_in_process(
        instance=env["instance"], run_config=run_config or {}, raise_on_error=raise_on_error
    )


def _q(env, sql, params=None):
    with duckdb.connect(str(env["warehouse"]), read_only=True) as con:
        return con.execute(sql, params or []).fetchall()


def test_first_run_publishes_explained_scores_with_lineage(env):
    result = _run(env)
    assert result.success
    accounts = _q(env, "select count(*) from raw.accounts")[0][0]
    current = _q(
        env,
        """select count(distinct account_id), min(score_version), count(*) filter (where run_id is null
        or scorecard_hash is null or code_version is null or input_batches_id is null)
        from scores.health_scores_current where objective = 'retention_risk'""",
    )[0]
    assert current == (accounts, 1, 0)
    # Every input batch is traceable from the score rows.
    batches = _q(
        env,
        """select count(distinct b.batch_id) from scores.health_scores_current s
        join scores.input_batches b using (input_batches_id)""",
    )[0][0]
    assert batches == len(list(Path(env["root"], "landing").rglob("*.parquet")))
    # Contributions add up to every computed score.
    worst = _q(
        env,
        """select max(abs(s.computed_score - f.total)) from scores.health_scores s
        join (select score_version, account_id, as_of_date, objective, sum(contribution) as total
              from scores.health_score_factors group by all) f
        using (score_version, account_id, as_of_date, objective)
        where s.computed_score is not null""",
    )[0][0]
    assert worst < 0.006
    # Churned accounts are never green; reasons are plain words.
    assert (
        _q(env, "select count(*) from scores.health_scores where is_churned and grade <> 'churned'")[0][0]
        == 0
    )
    reasons = [
        r[0]
        for r in _q(
            env,
            "select top_reasons from scores.health_scores_current where grade = 'red' or grade = 'yellow' limit 5",
        )
    ]
    assert reasons and all(isinstance(r, str) and len(r) > 10 for r in reasons)


def test_quarantine_and_row_accounting_on_demo_flaws(env):
    flaws = env["summary"]["flaws"]
    by_reason = dict(
        _q(
            env,
            """select source || '.' || column_name, count(distinct source_file || ':' || row_number)
            from raw._quarantine group by 1""",
        )
    )
    assert by_reason.get("usage_events.account_id") == flaws["usage_null_account_id"]
    assert by_reason.get("support_tickets.priority") == flaws["ticket_bad_priority"]
    assert by_reason.get("invoices.amount") == flaws["invoice_bad_amount"]
    mismatched = _q(
        env,
        """select b.batch_id from raw._load_batches b
        left join (select batch_id, count(distinct row_number) as n from raw._quarantine group by 1) q using (batch_id)
        where b.rows_landed <> b.rows_loaded + b.rows_quarantined
           or b.rows_quarantined <> coalesce(q.n, 0)""",
    )
    assert mismatched == []


def test_rerun_adds_no_raw_rows_and_appends_a_new_version(env):
    before = _q(env, "select count(*) from raw.usage_events")[0][0]
    built = _q(env, "select model, fingerprint, run_id from raw._staging_builds order by model")
    rerun = _run(env)
    assert rerun.success
    assert _q(env, "select count(*) from raw.usage_events")[0][0] == before
    # Nothing new landed: no staging table was rebuilt or retested (their records are the first
    # run's), and every later step still ran.
    assert len(built) >= 10 and {run_id for _, _, run_id in built} != {rerun.run_id}
    assert _q(env, "select model, fingerprint, run_id from raw._staging_builds order by model") == built
    accounts = [
        event.materialization
        for event in rerun.get_asset_materialization_events()
        if event.asset_key == dg.AssetKey(["staging", "crm__accounts"])
    ]
    assert [m.metadata["rebuilt"].value for m in accounts] == [False]
    versions = _q(env, "select score_version, count(*) from scores.health_scores group by 1 order by 1")
    assert [v for v, _ in versions] == [1, 2]
    assert versions[0][1] == versions[1][1]
    assert _q(env, "select distinct score_version from scores.health_scores_current") == [(2,)]


def test_accounts_that_later_churn_score_lower(env):
    """Backfill past dates, then compare scores with churn in the following 90 days."""
    from sklearn.metrics import roc_auc_score

    end = _q(env, "select max(as_of_date) from marts.fct_account_features_daily")[0][0]
    start, stop = end - dt.timedelta(days=200), end - dt.timedelta(days=90)
    job = env["defs"].resolve_job_def("healthscore_all")
    result = job.execute_in_process(
        instance=env["instance"],
        run_config={
            "ops": {"scores__health_scores": {"config": {"as_of_start": str(start), "as_of_end": str(stop)}}}
        },
        asset_selection=[dg.AssetKey(["scores", "health_scores"])],
    )
    assert result.success
    rows = _q(
        env,
        """select s.health_score, exists(
               select 1 from marts.fct_account_outcomes o where o.account_id = s.account_id
               and o.outcome_type = 'churn' and o.outcome_date > s.as_of_date
               and o.outcome_date <= s.as_of_date + 90) as churns_next_90d
        from scores.health_scores s
        where s.score_version = (select max(score_version) from scores.score_runs)
          and s.objective = 'retention_risk' and not s.is_churned and s.health_score is not null
          and extract(day from s.as_of_date) in (1, 15)""",
    )
    churners = [score for score, churns in rows if churns]
    retained = [score for score, churns in rows if not churns]
    assert len(churners) > 20
    assert sum(churners) / len(churners) < sum(retained) / len(retained) - 3
    auc = roc_auc_score([c for _, c in rows], [-s for s, _ in rows])
    print(f"retention AUC, churn within 90 days: {auc:.3f} over {len(rows)} account-dates")
    assert auc > 0.62


def test_partitioned_materialization_and_single_run_backfill(env):
    end = _q(env, "select max(as_of_date) from marts.fct_account_features_daily")[0][0]
    job = env["defs"].resolve_job_def("healthscore_all")
    scores = [dg.AssetKey(["scores", "health_scores"])]
    # The earlier runs had no partition (as `healthscore run`), yet the day they scored is recorded,
    # for every table scoring writes (the Partitions tab and the graph show what has scores).
    from orchestration.defs.scoring.assets import PUBLISHED_TABLES

    for key in [scores[0], *(dg.AssetKey(["scores", name]) for name in PUBLISHED_TABLES)]:
        assert str(end) in env["instance"].get_materialized_partitions(key), key
    # ... and the data's first day is recorded for the partitions definition to start there.
    first = _q(env, "select min(as_of_date) from marts.fct_account_features_daily")[0][0]
    assert (env["warehouse"].parent / "partitions_start").read_text().strip() == str(first)
    day = str(end - dt.timedelta(days=30))
    one = job.execute_in_process(instance=env["instance"], partition_key=day, asset_selection=scores)
    assert one.success
    version, first, last, dates = _q(
        env,
        """select score_version, as_of_start, as_of_end,
            (select count(distinct as_of_date) from scores.health_scores h where h.score_version = r.score_version)
        from scores.score_runs r order by score_version desc limit 1""",
    )[0]
    assert (str(first), str(last), dates) == (day, day, 1)

    start, stop = str(end - dt.timedelta(days=20)), str(end - dt.timedelta(days=14))
    backfill = job.execute_in_process(
        instance=env["instance"],
        asset_selection=scores,
        tags={"dagster/asset_partition_range_start": start, "dagster/asset_partition_range_end": stop},
    )
    assert backfill.success
    backfilled = env["instance"].get_materialized_partitions(scores[0])
    assert {str(end - dt.timedelta(days=n)) for n in range(14, 21)} <= backfilled
    runs_after = _q(env, "select count(*) from scores.score_runs where score_version > ?", [version])[0][0]
    assert runs_after == 1  # the whole range in one run, one version
    dates = _q(
        env,
        """select count(distinct as_of_date), min(as_of_date), max(as_of_date) from scores.health_scores
        where score_version = (select max(score_version) from scores.score_runs)""",
    )[0]
    assert (dates[0], str(dates[1]), str(dates[2])) == (7, start, stop)
    # Backfilling the past does not replace today's current scores.
    assert _q(env, "select max(as_of_date) from scores.health_scores_current")[0][0] == end


def test_blocking_check_stops_scoring_and_keeps_the_last_good_version(env):
    # A usage export whose every event belongs to an account the CRM does not know: the orphan
    # rate (a table-level failure: more than 1% of the new rows) is error severity and blocks.
    # (A re-export of the accounts no longer does: uniqueness is checked per load, issue 20.)
    landing = Path(env["root"], "landing", "usage_events")
    with duckdb.connect() as con:
        con.execute(
            f"""copy (select * replace ('ACC-GHOST' as account_id, 'ghost-' || event_id as event_id)
                from read_parquet('{landing}/*.parquet') limit 50)
            to '{landing}/orphans.parquet' (format parquet)"""
        )
    published = _q(env, "select max(score_version) from scores.health_scores_current")[0][0]
    result = _run(env, raise_on_error=False)
    assert not result.success
    failed_checks = [
        e.asset_check_evaluation_data
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION" and not e.asset_check_evaluation_data.passed
    ]
    assert any(
        c.asset_key == dg.AssetKey(["raw", "usage_events"]) and c.check_name == "referential_integrity"
        for c in failed_checks
    )
    materialized = {e.asset_key for e in result.all_events if e.event_type_value == "ASSET_MATERIALIZATION"}
    assert dg.AssetKey(["scores", "health_scores"]) not in materialized
    assert _q(env, "select max(score_version) from scores.health_scores_current")[0][0] == published
