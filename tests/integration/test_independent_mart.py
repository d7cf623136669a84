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

from benchmarks.independent.build import build, compare_marts, is_equal
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
