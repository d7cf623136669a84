"""Custom features end to end (docs/features.md): attributes declared on a landing folder are
point in time (a later export never changes an earlier date's features), metrics give windowed
sums / means / latest / change, a custom dbt model joins the mart, the catalog lists them all with
their types, and a dataset with no usage events at all builds.

Loads small CSV exports through the loader (attributes and declarations as a user would write
them), builds the dbt project in a temporary DuckDB file, loads a second accounts export that
changes an attribute, rebuilds and compares.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import duckdb
import pytest

from orchestration.lib.dbt_cli import project_args
from orchestration.lib.engines.base import Engine
from orchestration.lib.engines.duckdb import DuckDBEngine
from orchestration.lib.engines.factory import open_engine
from orchestration.lib.features.catalog import feature_catalog
from orchestration.lib.ingest.loader import ensure_raw_schema, load_source, load_source_into
from orchestration.lib.settings import PROJECT_ROOT
from tests.support import pg_server as pg

DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"
AS_OF_START, AS_OF_END = "2026-03-01", "2026-04-30"
D = "2026-03-31"
# the second export is loaded on this day: its values apply from it, not before
SECOND_EXPORT_DAY = "2026-04-10"

ACCOUNTS_1 = """account_id,account_name,segment,created_at,region,employees
A1,Acme,Startup,2025-06-01,emea,40
A2,Globex,Public Sector,2025-09-15,apac,1200
A3,Initech,SMB,2026-03-10,amer,
"""
# A1 moved region and grew; A2 unchanged; A3 gone from the export (deletions are not tracked)
ACCOUNTS_2 = """account_id,account_name,segment,created_at,region,employees
A1,Acme,Startup,2025-06-01,apac,55
A2,Globex,Public Sector,2025-09-15,apac,1200
"""
SUBSCRIPTIONS = """subscription_id,account_id,plan,seats,mrr,start_date,end_date,renewal_date,status,auto_renew
S1,A1,Team,10,500,2025-06-01,2026-05-31,2026-06-01,active,yes
S2,A2,Enterprise,100,9000,2025-09-15,2027-09-14,2027-09-15,active,no
S3,A2,Add-on,5,100,2026-01-01,,2026-02-01,active,yes
"""
FEATURES_ACCOUNTS = """attributes:
  region: {type: categorical, description: Sales region.}
  employees: {type: numeric, description: Headcount.}
"""
FEATURES_SUBSCRIPTIONS = "attributes:\n  auto_renew: {type: boolean, description: Renews automatically.}\n"
FEATURES_METRICS = """metrics:
  charges:
    description: Monthly charges
    windows: [30]
"""


def _metrics_csv() -> str:
    # A1: one charge every 7 days from 02-01 (0, 10, 20, ...); the 04-19 value arrives on 04-25
    rows = ["measurement_id,account_id,metric,value,measured_at,received_at"]
    for k in range(12):
        day = dt.date(2026, 2, 1) + dt.timedelta(days=7 * k)
        received = "2026-04-25 09:00:00" if day == dt.date(2026, 4, 19) else ""
        rows.append(f"m{k},A1,Charges,{10.0 * k},{day} 08:00:00,{received}")
    return "\n".join(rows) + "\n"


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def _load(warehouse: Path, landing: Path, sources: list[str], loaded_at: str) -> None:
    con = duckdb.connect(str(warehouse))
    try:
        ensure_raw_schema(con)
        for source in sources:
            result = load_source(con, source, landing)
            assert result.rows_quarantined == 0, source
            # pin the load time (the day the export became known)
            for batch in result.batch_ids:
                con.execute(
                    f"update raw.{source} set _loaded_at = timestamp '{loaded_at} 06:00:00' where _batch_id = ?",
                    [batch],
                )
    finally:
        con.close()


def _dbt(tmp_path: Path) -> None:
    from dbt.cli.main import dbtRunner

    from orchestration.defs.transform.inprocess import release_duckdb

    args = [
        "build",
        *project_args(DBT_PROJECT_DIR, tmp_path / "target", tmp_path / "logs"),
        "--vars", json.dumps({"as_of_start": AS_OF_START, "as_of_end": AS_OF_END}),
        "--quiet",
        "--threads", "2",
    ]  # fmt: skip
    result = dbtRunner().invoke(args)
    release_duckdb()
    assert result.success, f"dbt build failed: {result.exception or result.result}"


def _rows(warehouse: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(sql).fetchall()


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict:
    tmp_path = tmp_path_factory.mktemp("custom_features")
    warehouse, landing = tmp_path / "warehouse.duckdb", tmp_path / "landing"
    _write(landing / "accounts" / "accounts_1.csv", ACCOUNTS_1)
    _write(landing / "accounts" / "_features.yml", FEATURES_ACCOUNTS)
    _write(landing / "subscriptions" / "subscriptions.csv", SUBSCRIPTIONS)
    _write(landing / "subscriptions" / "_features.yml", FEATURES_SUBSCRIPTIONS)
    _write(landing / "account_metrics" / "metrics.csv", _metrics_csv())
    _write(landing / "account_metrics" / "_features.yml", FEATURES_METRICS)
    # no usage events, tickets, surveys, invoices, notes or mentions at all
    _load(warehouse, landing, ["accounts", "subscriptions", "account_metrics"], "2026-01-15")
    patch = pytest.MonkeyPatch()
    patch.setenv("HEALTHSCORE_WAREHOUSE", str(warehouse))
    try:
        _dbt(tmp_path)
        on_d = f"select * exclude (inputs_loaded_through) from marts.fct_account_features_daily where as_of_date = date '{D}' order by account_id"
        before = _rows(warehouse, on_d)
        with duckdb.connect(str(warehouse), read_only=True) as con:
            mart_before = _mart(DuckDBEngine(con))
        _write(landing / "accounts" / "accounts_2.csv", ACCOUNTS_2)
        _load(warehouse, landing, ["accounts"], SECOND_EXPORT_DAY)
        _dbt(tmp_path)
        with duckdb.connect(str(warehouse), read_only=True) as con:
            mart_after = _mart(DuckDBEngine(con))
        yield {
            "warehouse": warehouse,
            "landing": landing,
            "before": before,
            "after": _rows(warehouse, on_d),
            "mart_before": mart_before,
            "mart_after": mart_after,
        }
    finally:
        patch.undo()


def _mart(engine: Engine) -> dict[tuple[str, str], dict]:
    """The whole feature mart, by (account_id, as_of_date), values normalised across engines."""
    cursor = engine.execute("select * from marts.fct_account_features_daily")
    names = [d[0] for d in cursor.description]

    def value(v: object) -> object:
        if hasattr(v, "isoformat"):
            return v.isoformat()
        if isinstance(v, bool) or v is None or isinstance(v, str):
            return v
        return float(v)  # ints, floats, decimals

    out = {}
    for row in cursor.fetchall():
        record = {n: value(v) for n, v in zip(names, row, strict=True) if n != "inputs_loaded_through"}
        out[(record["account_id"], record["as_of_date"])] = record
    return out


@pytest.mark.slow
@pytest.mark.skipif(pg.available() is not None, reason=str(pg.available()))
def test_custom_features_build_the_same_on_postgres(built: dict, tmp_path: Path) -> None:
    """The same exports, loaded into PostgreSQL and built by the same dbt models (attributes with
    their re-export, metrics with a late value, the custom model, no usage source at all): the
    mart equals DuckDB's value for value, before and after the second export."""
    import psycopg2

    landing = tmp_path / "landing"
    _write(landing / "accounts" / "accounts_1.csv", ACCOUNTS_1)
    _write(landing / "accounts" / "_features.yml", FEATURES_ACCOUNTS)
    _write(landing / "subscriptions" / "subscriptions.csv", SUBSCRIPTIONS)
    _write(landing / "subscriptions" / "_features.yml", FEATURES_SUBSCRIPTIONS)
    _write(landing / "account_metrics" / "metrics.csv", _metrics_csv())
    _write(landing / "account_metrics" / "_features.yml", FEATURES_METRICS)
    patch = pytest.MonkeyPatch()
    try:
        with pg.postgres_server() as server:
            con = psycopg2.connect(server.dsn)
            con.autocommit = True
            con.cursor().execute("create database healthscore")
            con.close()
            patch.setenv("HEALTHSCORE_ENGINE", "postgres")
            patch.setenv("HEALTHSCORE_PG_HOST", server.host)
            patch.setenv("HEALTHSCORE_PG_PORT", str(server.port))
            patch.setenv("HEALTHSCORE_PG_USER", server.user)
            patch.setenv("HEALTHSCORE_PG_DBNAME", "healthscore")
            marts = []
            for sources, day in (
                (["accounts", "subscriptions", "account_metrics"], "2026-01-15"),
                (["accounts"], SECOND_EXPORT_DAY),
            ):
                if day == SECOND_EXPORT_DAY:
                    _write(landing / "accounts" / "accounts_2.csv", ACCOUNTS_2)
                with open_engine("postgres") as engine:
                    ensure_raw_schema(engine)
                    for source in sources:
                        result = load_source_into(engine, source, landing)
                        assert result.rows_quarantined == 0, source
                        for batch in result.batch_ids:
                            engine.execute(
                                f"update raw.{source} set _loaded_at = timestamp '{day} 06:00:00' "
                                "where _batch_id = ?",
                                [batch],
                            )
                _dbt(tmp_path)
                with open_engine("postgres") as engine:
                    marts.append(_mart(engine))
    finally:
        patch.undo()
    for got, expected, when in (
        (marts[0], built["mart_before"], "first export"),
        (marts[1], built["mart_after"], "after the re-export"),
    ):
        assert got.keys() == expected.keys(), when
        differ = [
            (key, column, want, got[key][column])
            for key, record in expected.items()
            for column, want in record.items()
            if not (
                want == got[key][column]
                or (
                    isinstance(want, float)
                    and isinstance(got[key][column], float)
                    and abs(want - got[key][column]) <= 1e-9 * max(1.0, abs(want))
                )
            )
        ]
        assert not differ, f"{when}: {len(differ)} values differ, e.g. {differ[:5]}"
        assert {c for r in got.values() for c in r} >= {
            "attr_region",
            "metric_charges__change_30d",
            "cf_days_into_term",
        }


def _feature(built: dict, columns: str, account: str, day: str) -> tuple:
    rows = _rows(
        built["warehouse"],
        f"select {columns} from marts.fct_account_features_daily "
        f"where account_id = '{account}' and as_of_date = date '{day}'",
    )
    assert len(rows) == 1, (account, day)
    return rows[0]


def test_a_later_export_never_changes_an_earlier_dates_features(built: dict) -> None:
    assert len(built["before"]) == 3
    assert built["after"] == built["before"]


def test_a_changed_attribute_applies_from_the_day_its_export_was_loaded(built: dict) -> None:
    assert _feature(built, "attr_region, attr_employees", "A1", "2026-04-09") == ("emea", 40.0)
    assert _feature(built, "attr_region, attr_employees", "A1", SECOND_EXPORT_DAY) == ("apac", 55.0)
    assert _feature(built, "attr_region, attr_employees", "A3", "2026-04-30") == ("amer", None)


def test_standard_features_and_subscription_attributes(built: dict) -> None:
    # A2: two active terms (MRR and ARR add up); the primary one is the highest-MRR term, not the add-on
    got = _feature(
        built, "segment, tenure_days, plan, contract_term_months, mrr, arr, attr_auto_renew", "A2", D
    )
    assert got == ("Public Sector", 197, "Enterprise", 24, 9100.0, 109200.0, False)
    assert _feature(built, "plan, contract_term_months, attr_auto_renew", "A1", D) == ("Team", 12, True)


def test_metric_windows_latest_and_change_are_point_in_time(built: dict) -> None:
    columns = (
        "metric_charges__sum_30d, metric_charges__avg_30d, metric_charges__latest, metric_charges__change_30d"
    )
    # 03-31: values of 03-08, 03-15, 03-22, 03-29 (50..80); latest 80; on 03-01 the latest was 40
    assert _feature(built, columns, "A1", D) == (260.0, 65.0, 80.0, 40.0)
    # 04-20: 03-22..04-12 (70..100); the 04-19 value (110) is not known until 04-25
    assert _feature(built, columns, "A1", "2026-04-20") == (340.0, 85.0, 100.0, 40.0)
    assert _feature(built, columns, "A1", "2026-04-25") == (380.0, 95.0, 110.0, 40.0)
    # no measurement at all: null, not 0
    assert _feature(built, columns, "A2", D) == (None, None, None, None)


def test_custom_dbt_model_joins_the_mart(built: dict) -> None:
    # cf_contract_progress (dbt_project/models/features/): A1's term 2025-06-01 -> 2026-06-01
    assert _feature(built, "cf_days_into_term, round(cf_term_elapsed_share, 4)", "A1", D) == (303, 0.8301)


def test_catalog_lists_every_feature_with_its_type(built: dict) -> None:
    with duckdb.connect(str(built["warehouse"]), read_only=True) as con:
        catalog = feature_catalog(con)
    got = {n: (catalog[n].type, catalog[n].kind) for n in catalog}
    assert got["attr_region"] == ("categorical", "attribute")
    assert got["attr_employees"] == ("numeric", "attribute")
    assert got["attr_auto_renew"] == ("boolean", "attribute")
    assert got["metric_charges__change_30d"] == ("numeric", "metric")
    assert got["cf_term_elapsed_share"] == ("numeric", "custom")
    assert got["plan"] == ("categorical", "standard")
    assert got["tenure_days"] == ("numeric", "standard")
    assert got["account_id"] == ("key", "key") and got["is_churned"][1] == "label"
    assert catalog["attr_region"].description == "Sales region."
    assert catalog["metric_charges__sum_30d"].description.startswith("Monthly charges: sum of the values")
    assert not catalog["is_churned"].is_feature and catalog["attr_region"].is_feature


def test_the_leakage_guard_rebuilds_custom_features_from_what_was_known(built: dict) -> None:
    # the guard's scratch copy needs the declarations and the attribute values (raw tables the
    # models read directly): without them the rebuilt mart had no attr_ columns and the guard
    # crashed on any scorecard using an attribute
    from orchestration.lib.backtest.leakage import dbt_leakage_check

    columns = [
        "attr_region",
        "attr_employees",
        "attr_auto_renew",
        "contract_term_months",
        "metric_charges__latest",
    ]
    with duckdb.connect(str(built["warehouse"])) as con:
        # two dates: the second rebuild sees the first one's scratch copy attached (it once copied
        # those tables as well and failed: "stg_product__usage_events already exists")
        dates = [dt.date(2026, 3, 31), dt.date(2026, 4, 20)]
        result = dbt_leakage_check(built["warehouse"], n_dates=2)(con, dates, columns)
    assert result.passed and result.dates == dates and result.rows_compared == 6, result
