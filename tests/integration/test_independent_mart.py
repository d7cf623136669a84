"""The benchmark's independent yardstick (benchmarks/independent) builds the same feature mart as
the dbt models, value for value, on a pinned demo: the ratio `make bench` prints compares the same
work, and a change to either side that alters a feature fails here.

Loads a small demo through the loader (pinned seed, end date and load time), builds the dbt
models (staging, the sentiment model, then the mart), builds the independent mart from the same
raw tables and compares every column of every row.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import duckdb
import pytest

from benchmarks.independent.build import bucket_bounds, build, compare_marts, is_equal
from orchestration.lib.contracts.sources import CONTRACTS
from orchestration.lib.dbt_cli import project_args
from orchestration.lib.demo.generate import generate_demo_data
from orchestration.lib.ingest.loader import ensure_raw_schema, load_source
from orchestration.lib.settings import PROJECT_ROOT
from tests.dates import DEMO_END_DATE

DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"
# pinned load times: the first export, then a re-export of subscriptions and accounts weeks later
# (versions whose changes apply from their load day); "now" for the loader's future-date check
FIRST_LOAD_AT = dt.datetime.combine(DEMO_END_DATE - dt.timedelta(days=40), dt.time(6))
RE_EXPORT_AT = dt.datetime.combine(DEMO_END_DATE - dt.timedelta(days=20), dt.time(6))
NOW = dt.datetime.combine(DEMO_END_DATE + dt.timedelta(days=1), dt.time(6))


def _dbt(tmp_path: Path, select: str) -> None:
    from dbt.cli.main import dbtRunner

    from orchestration.defs.transform.inprocess import release_duckdb

    args = [
        "run",
        *project_args(DBT_PROJECT_DIR, tmp_path / "target", tmp_path / "logs"),
        "--vars", json.dumps({"reference_date": DEMO_END_DATE.isoformat()}),
        "--select", select,
        "--quiet",
        "--threads", "2",
    ]  # fmt: skip
    result = dbtRunner().invoke(args)
    release_duckdb()
    assert result.success, f"dbt run failed: {result.exception or result.result}"


@pytest.fixture(scope="module")
def marts(tmp_path_factory: pytest.TempPathFactory):
    from orchestration.lib.sentiment.model import load_model
    from orchestration.lib.sentiment.score import score_warehouse_texts

    tmp_path = tmp_path_factory.mktemp("independent")
    landing, warehouse = tmp_path / "landing", tmp_path / "healthscore.duckdb"
    generate_demo_data(landing, accounts=40, days=150, seed=11, end_date=DEMO_END_DATE)
    con = duckdb.connect(str(warehouse))
    try:
        ensure_raw_schema(con)
        for source in CONTRACTS:
            load_source(con, source, landing, loaded_at=FIRST_LOAD_AT, now=NOW)
        # the later export: every third subscription's MRR and seats change, one account moves segment
        for source in ("subscriptions", "accounts"):
            path = next((landing / source).glob("*.parquet"))
            changed = path.with_name(f"re_export_{path.name}")
            change = (
                "* replace (case when row_number() over () % 3 = 0 then mrr * 1.5 else mrr end as mrr, "
                "case when row_number() over () % 3 = 0 then seats + 5 else seats end as seats)"
                if source == "subscriptions"
                else "* replace (case when account_id = 'ACC-000002' then 'Enterprise' else segment end as segment)"
            )
            con.execute(f"copy (select {change} from read_parquet('{path}')) to '{changed}' (format parquet)")
            load_source(con, source, landing, loaded_at=RE_EXPORT_AT, now=NOW)
    finally:
        con.close()
    patch = pytest.MonkeyPatch()
    patch.setenv("HEALTHSCORE_WAREHOUSE", str(warehouse))
    try:
        _dbt(tmp_path, "staging")
        con = duckdb.connect(str(warehouse))
        try:
            relations = {
                "tickets": "staging.stg_support__tickets",
                "surveys": "staging.stg_surveys__responses",
                "notes": "staging.stg_crm__account_notes",
                "social": "staging.stg_social__mentions",
            }
            score_warehouse_texts(con, relations, load_model())
        finally:
            con.close()
        _dbt(tmp_path, "+fct_account_features_daily")
    finally:
        patch.undo()
    independent = tmp_path / "independent.duckdb"
    build(warehouse, independent, DEMO_END_DATE, log=lambda _m: None)
    return warehouse, independent


def test_the_independent_mart_equals_the_dbt_mart(marts):
    warehouse, independent = marts
    result = compare_marts(independent, warehouse)
    assert result["pipeline_rows"] > 4000  # 40 accounts, most over the 150 days
    assert result["columns_compared"] >= 70  # standard, sentiment, attr_*, metric_*, cf_* columns
    assert is_equal(result), json.dumps(result, indent=1, default=str)
    with duckdb.connect(str(warehouse), read_only=True) as con:
        versions = con.execute(
            "select count(*) from staging.stg_billing__subscription_versions where valid_to is not null"
        ).fetchone()[0]
    assert versions > 0  # the re-export made versions: the point-in-time rules were exercised


def test_a_build_in_account_buckets_equals_the_dbt_mart_and_the_unbucketed_build(marts, tmp_path):
    """--buckets 3: the first part of mart.sql once, the rest per third of the accounts, appended;
    the same rows and values as the dbt mart and as the build in one bucket (the fixture's)."""
    warehouse, independent = marts
    bucketed = tmp_path / "bucketed.duckdb"
    logged: list[str] = []
    build(warehouse, bucketed, DEMO_END_DATE, buckets=3, log=logged.append)
    progress = [m for m in logged if m.startswith("independent: bucket ")]
    assert [m.split(" (")[0] for m in progress] == [f"independent: bucket {b}/3" for b in (1, 2, 3)], logged
    result = compare_marts(bucketed, warehouse)
    assert result["pipeline_rows"] > 4000
    assert is_equal(result), json.dumps(result, indent=1, default=str)
    same = compare_marts(bucketed, independent, table="main.fct_account_features_daily")
    assert same["independent_rows"] == same["pipeline_rows"] == result["pipeline_rows"]
    assert is_equal(same), json.dumps(same, indent=1, default=str)


def test_the_account_buckets_cover_each_account_once():
    con = duckdb.connect()
    con.execute(
        "create temp table all_spans as select range + 1 as a, printf('ACC-%06d', range + 1) as account_id "
        "from range(45000)"
    )
    assert len(bucket_bounds(con, None)) == 3  # about 20,000 accounts each
    assert bucket_bounds(con, 1) == [("true", 45000)]
    for buckets in (None, 2, 7):
        bounds = bucket_bounds(con, buckets)
        counted = con.execute(
            "select count(*), count(distinct a), sum(hits) from (select a, "
            + " + ".join(f"({predicate})::int" for predicate, _n in bounds)
            + " as hits from all_spans) where hits = 1"
        ).fetchone()
        assert counted == (45000, 45000, 45000)
        assert sum(n for _p, n in bounds) == 45000
    con.execute("delete from all_spans where a > 20000")
    assert bucket_bounds(con, None) == [("true", 20000)]  # M: one bucket


def test_the_comparison_reports_a_changed_value(marts, tmp_path):
    warehouse, independent = marts
    changed = tmp_path / "changed.duckdb"
    shutil.copy(independent, changed)
    with duckdb.connect(str(changed)) as con:
        con.execute(
            "update fct_account_features_daily set mrr = mrr + 0.01 "
            "where account_id = (select min(account_id) from fct_account_features_daily where mrr > 0)"
        )
        con.execute(
            "update fct_account_features_daily set plan = 'other' where as_of_date = date '2026-11-26'"
        )
    result = compare_marts(changed, warehouse)
    assert not is_equal(result)
    assert set(result["mismatches"]) == {"mrr", "plan"}, result["mismatches"].keys()
