"""Custom attributes and metrics declared in a mapping or a landing folder (docs/features.md):
validation a user can act on, typed values landing with their records, bad values quarantined."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from orchestration.lib.ingest.declarations import MappingError
from orchestration.lib.ingest.files import IngestError
from orchestration.lib.ingest.loader import ensure_raw_schema, load_source
from orchestration.lib.ingest.mapping import check_mapping, parse_mapping

# A snapshot export: one row per customer, categorical and numeric columns of its own.
SNAPSHOT_CSV = """customerID,Contract,PaymentMethod,MonthlyCharges,SeniorCitizen,FirstBill
c1,Month-to-month,Electronic check,70.35,1,2024-01-05
c2,Two year,Bank transfer (automatic),,0,2023-06-30
c3,One year,Mailed check,abc,0,2024-02-11
c4,Month-to-month,Credit card (automatic),99.9,yes,
"""

SNAPSHOT_MAPPING = """
source: accounts
files: snapshot.csv
columns:
  account_id: customerID
  account_name: customerID
  segment: {value: Consumer}
  created_at: {value: "2024-12-31"}
attributes:
  contract:
    column: Contract
    type: categorical
    description: Contract term as sold.
  payment_method: {column: PaymentMethod, type: categorical}
  monthly_charges: {column: MonthlyCharges, type: numeric, description: Monthly charges in USD.}
  senior_citizen: {column: SeniorCitizen, type: boolean}
  first_bill: {column: FirstBill, type: date}
"""


def _write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _load(tmp_path: Path, source: str = "accounts") -> tuple[duckdb.DuckDBPyConnection, object]:
    con = duckdb.connect()
    ensure_raw_schema(con)
    result = load_source(con, source, tmp_path / "landing", mappings_dir=tmp_path / "mappings")
    return con, result


def test_snapshot_columns_become_typed_attributes_without_stuffing_a_contract_field(tmp_path: Path) -> None:
    _write(tmp_path, "mappings/snapshot.csv", SNAPSHOT_CSV)
    _write(tmp_path, "mappings/accounts.yml", SNAPSHOT_MAPPING)
    con, result = _load(tmp_path)
    # c3's charges "abc" is not a number: its row is quarantined with the reason, like a contract column
    assert (result.rows_landed, result.rows_loaded, result.rows_quarantined) == (4, 3, 1)
    quarantined = con.execute("select row_number, column_name, reason from raw._quarantine").fetchall()
    assert quarantined == [(3, "attributes.monthly_charges", "cannot parse abc as numeric")]
    values = con.execute(
        "select record_id, name, value from raw._attribute_values order by record_id, name"
    ).fetchall()
    assert values == [
        ("c1", "contract", "Month-to-month"),
        ("c1", "first_bill", "2024-01-05"),
        ("c1", "monthly_charges", "70.35"),
        ("c1", "payment_method", "Electronic check"),
        ("c1", "senior_citizen", "true"),
        # empty cells are absent (null), not empty strings
        ("c2", "contract", "Two year"),
        ("c2", "first_bill", "2023-06-30"),
        ("c2", "payment_method", "Bank transfer (automatic)"),
        ("c2", "senior_citizen", "false"),
        ("c4", "contract", "Month-to-month"),
        ("c4", "monthly_charges", "99.9"),
        ("c4", "payment_method", "Credit card (automatic)"),
        ("c4", "senior_citizen", "true"),
    ]
    declared = con.execute(
        "select name, feature_type, description from raw._feature_declarations where source = 'accounts' "
        "order by name"
    ).fetchall()
    assert declared == [
        ("contract", "categorical", "Contract term as sold."),
        ("first_bill", "date", ""),
        ("monthly_charges", "numeric", "Monthly charges in USD."),
        ("payment_method", "categorical", ""),
        ("senior_citizen", "boolean", ""),
    ]
    # the contract's own columns hold only what they mean
    assert con.execute("select distinct segment from raw.accounts").fetchall() == [("Consumer",)]


def test_landing_folder_declarations_and_metrics(tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    _write(
        landing,
        "accounts/accounts.csv",
        "account_id,account_name,segment,created_at,region\nA1,Acme,Startup,2024-01-01,emea\n",
    )
    _write(
        landing,
        "accounts/_features.yml",
        "attributes:\n  region: {type: categorical, description: Sales region}\n",
    )
    _write(
        landing,
        "account_metrics/_features.yml",
        "metrics:\n  charges: {description: Monthly charges, windows: [30], aggregations: [latest, change]}\n",
    )
    con = duckdb.connect()
    ensure_raw_schema(con)
    result = load_source(con, "accounts", landing)
    load_source(con, "account_metrics", landing)
    assert result.rows_loaded == 1
    # a segment outside SMB / Mid-Market / Enterprise loads (segments are not limited to three)
    assert con.execute("select segment from raw.accounts").fetchall() == [("Startup",)]
    assert con.execute("select record_id, name, value from raw._attribute_values").fetchall() == [
        ("A1", "region", "emea")
    ]
    assert con.execute(
        "select source, kind, name, origin, windows, aggregations from raw._feature_declarations order by source"
    ).fetchall() == [
        ("account_metrics", "metric", "charges", "charges", "30", "latest,change"),
        ("accounts", "attribute", "region", None, None, None),
    ]
    # declarations are replaced at every load: removing the file removes them
    (landing / "accounts" / "_features.yml").unlink()
    load_source(con, "accounts", landing)
    assert con.execute(
        "select count(*) from raw._feature_declarations where source = 'accounts'"
    ).fetchone() == (0,)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("attributes:\n  Bad-Name: {type: numeric}\n", "attribute name 'Bad-Name' must be lower-case"),
        ("attributes:\n  a__b: {type: numeric}\n", "attribute name 'a__b' must be lower-case"),
        ("attributes:\n  tier: {type: colour}\n", "attributes.tier.type"),
        ("attributes:\n  tier: {type: numeric, format: '%Y'}\n", "`format` applies to date attributes"),
        ("metrics:\n  logins: {}\n", "`metrics` apply to usage_events and account_metrics, not accounts"),
    ],
)
def test_declaration_errors_name_the_mapping_and_the_entry(text: str, message: str) -> None:
    base = "source: accounts\nfiles: a.csv\ncolumns: {account_id: id, account_name: n, segment: s, created_at: c}\n"
    with pytest.raises(MappingError) as err:
        parse_mapping(base + text, "maps/accounts.yml")
    assert "maps/accounts.yml" in str(err.value)
    assert message in str(err.value)


def test_metric_window_out_of_range_is_rejected() -> None:
    text = (
        "source: account_metrics\nfiles: m.csv\ncolumns: {measurement_id: id, account_id: a, metric: m, "
        "value: v, measured_at: t}\nmetrics:\n  logins: {windows: [30, 400]}\n"
    )
    with pytest.raises(MappingError, match="window 400 must be between 1 and 365"):
        parse_mapping(text, "maps/account_metrics.yml")


def test_check_mapping_names_an_attribute_column_that_does_not_exist(tmp_path: Path) -> None:
    _write(tmp_path, "snapshot.csv", SNAPSHOT_CSV)
    path = _write(tmp_path, "accounts.yml", SNAPSHOT_MAPPING.replace("column: Contract", "column: Contrakt"))
    loaded = parse_mapping(path.read_text(), path)
    with pytest.raises(MappingError, match="attributes: .*Contrakt"):
        check_mapping(loaded)


def test_a_bad_landing_declaration_fails_the_source_naming_the_file(tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    _write(
        landing,
        "accounts/accounts.csv",
        "account_id,account_name,segment,created_at\nA1,Acme,SMB,2024-01-01\n",
    )
    _write(landing, "accounts/_features.yml", "attributes:\n  region: {type: text}\n")
    con = duckdb.connect()
    ensure_raw_schema(con)
    with pytest.raises(IngestError, match="accounts/_features.yml"):
        load_source(con, "accounts", landing)


WIDE_METRICS_MAPPING = """
source: account_metrics
files: usage_snapshot.csv
columns:
  measurement_id: "'snap-' || customer"
  account_id: customer
  measured_at: {value: "2024-12-31"}
metrics:
  day_minutes: {column: day_mins, description: Daytime minutes in the month.}
  service_calls: {column: calls, windows: [30]}
  day_charge: {expr: "try_cast(day_mins as double) * 0.17", aggregations: [latest]}
"""


def test_a_wide_file_gives_one_measurement_per_metric(tmp_path: Path) -> None:
    _write(tmp_path, "mappings/usage_snapshot.csv", "customer,day_mins,calls\nc1,265.1,1\nc2,,4\nc3,99,x\n")
    _write(tmp_path, "mappings/account_metrics.yml", WIDE_METRICS_MAPPING)
    con, result = _load(tmp_path, "account_metrics")
    # c1: 3 metrics; c2: 2 (no minutes: no measurement, and no charge from them); c3: 3, the bad
    # call count quarantined on its own
    assert (result.rows_landed, result.rows_loaded, result.rows_quarantined) == (7, 6, 1)
    rows = con.execute(
        "select measurement_id, account_id, metric, round(value, 3), measured_at from raw.account_metrics order by 1"
    ).fetchall()
    assert [(r[0], r[2], r[3]) for r in rows] == [
        ("snap-c1:day_charge", "day_charge", 45.067),
        ("snap-c1:day_minutes", "day_minutes", 265.1),
        ("snap-c1:service_calls", "service_calls", 1.0),
        ("snap-c2:service_calls", "service_calls", 4.0),
        ("snap-c3:day_charge", "day_charge", 16.83),
        ("snap-c3:day_minutes", "day_minutes", 99.0),
    ]
    assert {str(r[4]) for r in rows} == {"2024-12-31 00:00:00"}
    assert con.execute("select row_number, column_name, reason from raw._quarantine").fetchall() == [
        (3, "value", "cannot parse x as double")
    ]


def test_wide_metrics_must_all_say_where_they_come_from() -> None:
    text = WIDE_METRICS_MAPPING.replace("  day_charge:", "  other: {}\n  day_charge:").replace(
        "files: usage_snapshot.csv", "files: u.csv"
    )
    with pytest.raises(MappingError, match="metrics other: give `column` or `expr` for every metric"):
        parse_mapping(text, "maps/account_metrics.yml")
    mapped_value = WIDE_METRICS_MAPPING.replace(
        "  account_id: customer", "  account_id: customer\n  value: x"
    )
    with pytest.raises(MappingError, match="column 'value' comes from `metrics` in a wide file"):
        parse_mapping(mapped_value, "maps/account_metrics.yml")
