"""A snapshot-only dataset (one current-state row per customer, no events at all), mapped as
docs/bring-your-own-data.md shows: categorical and numeric columns become attributes, no contract
field is stuffed, no usage event is invented, and the feature mart is built for the snapshot's own
date without any as_of vars (issue 19 items 1, 8)."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from orchestration.lib.dbt_cli import project_args
from orchestration.lib.ingest.loader import ensure_raw_schema, load_source
from orchestration.lib.settings import PROJECT_ROOT

DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"
EXPORT_DATE = "2024-12-31"

CUSTOMERS_CSV = """customerID,tenure,Contract,PaymentMethod,InternetService,MonthlyCharges,TotalCharges,Churn
7590-VHVEG,1,Month-to-month,Electronic check,DSL,29.85,29.85,No
5575-GNVDE,34,One year,Mailed check,DSL,56.95,1889.5,No
3668-QPYBK,2,Month-to-month,Mailed check,DSL,53.85,108.15,Yes
7795-CFOCW,45,One year,Bank transfer (automatic),DSL,42.3,1840.75,No
9237-HQITU,2,Month-to-month,Electronic check,Fiber optic,70.7,151.65,Yes
4190-MFLUW,0,Two year,Credit card (automatic),No,20.25, ,No
"""

# the mappings of docs/bring-your-own-data.md ("Snapshot-only data"), verbatim
ACCOUNTS_YML = """
source: accounts
files: customers.csv
columns:
  account_id: customerID
  account_name: customerID
  segment: {value: Consumer}                       # any segment name
  # tenure is in months: the account was created that long before the export
  created_at: "cast(date '2024-12-31' - to_months(cast(tenure as integer)) as timestamp)"
attributes:
  contract: {column: Contract, type: categorical, description: Contract term.}
  payment_method: {column: PaymentMethod, type: categorical, description: How the customer pays.}
  internet_service: {column: InternetService, type: categorical, description: "DSL, Fiber optic or No."}
  monthly_charges: {column: MonthlyCharges, type: numeric, description: "Monthly charges, USD."}
  total_charges: {column: TotalCharges, type: numeric, description: "Charges to date, USD (blank for new customers)."}
"""
SUBSCRIPTIONS_YML = """
source: subscriptions
files: customers.csv
columns:
  subscription_id: customerID
  account_id: customerID
  plan: Contract                                   # -> the standard feature `plan`
  mrr: MonthlyCharges
  start_date: "cast(date '2024-12-31' - to_months(cast(tenure as integer)) as date)"
  status: {value: active}
"""
OUTCOMES_YML = """
source: outcomes
files: customers.csv
columns:
  outcome_id: "'snap-' || customerID"
  account_id: customerID
  outcome_type: {column: Churn, values: {"Yes": churn, "No": renewal}}
  outcome_date: {value: "2024-12-31"}
"""


def test_the_docs_snapshot_example_builds_its_own_date(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dbt.cli.main import dbtRunner

    from orchestration.defs.transform.inprocess import release_duckdb

    mappings = tmp_path / "mappings"
    mappings.mkdir()
    (mappings / "customers.csv").write_text(CUSTOMERS_CSV)
    for name, text in (
        ("accounts", ACCOUNTS_YML),
        ("subscriptions", SUBSCRIPTIONS_YML),
        ("outcomes", OUTCOMES_YML),
    ):
        (mappings / f"{name}.yml").write_text(text)
    warehouse = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(warehouse)) as con:
        ensure_raw_schema(con)
        for source in ("accounts", "subscriptions", "outcomes"):
            result = load_source(con, source, tmp_path / "landing", mappings_dir=mappings)
            assert (result.rows_loaded, result.rows_quarantined) == (6, 0), source
    monkeypatch.setenv("HEALTHSCORE_WAREHOUSE", str(warehouse))
    args = [
        "build",
        *project_args(DBT_PROJECT_DIR, tmp_path / "target", tmp_path / "logs"),
        # no as_of range: only the reference date the export is known on (HEALTHSCORE_REFERENCE_DATE)
        "--vars", json.dumps({"reference_date": EXPORT_DATE}),
        "--quiet",
    ]  # fmt: skip
    result = dbtRunner().invoke(args)
    release_duckdb()
    assert result.success, f"dbt build failed: {result.exception or result.result}"
    with duckdb.connect(str(warehouse), read_only=True) as con:
        rows = con.execute(
            """
            select account_id, as_of_date, is_churned, tenure_days, plan, mrr, attr_contract,
                attr_payment_method, attr_monthly_charges, attr_total_charges, active_users_30d
            from marts.fct_account_features_daily
            where as_of_date = (select max(as_of_date) from marts.fct_account_features_daily)
            order by account_id
            """
        ).fetchall()
    assert len(rows) == 6
    assert {str(r[1]) for r in rows} == {EXPORT_DATE}
    by_id = {r[0]: r for r in rows}
    assert by_id["3668-QPYBK"][2:9] == (
        True,
        61,
        "Month-to-month",
        53.85,
        "Month-to-month",
        "Mailed check",
        53.85,
    )
    assert by_id["5575-GNVDE"][3] == 1037  # 34 months: created 2022-02-28
    assert by_id["4190-MFLUW"][9] is None  # a blank TotalCharges is null, not 0 and not quarantined
