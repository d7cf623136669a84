"""Mapping files: validation errors a user can act on, and loading a user's export through one."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from orchestration.lib.ingest.declarations import MappingError
from orchestration.lib.ingest.files import IngestError
from orchestration.lib.ingest.loader import load_source
from orchestration.lib.ingest.mapping import check_mapping, load_mappings, parse_mapping

ACCOUNTS_CSV = """Customer ID,Company,Tier,Signed Up,Churned
c1,Acme,Basic,16/10/2024,Yes
c2,Globex,Premium,01/02/2023,No
c3,Initech,Basic,31/02/2024,No
c4,Umbrella,Gold,05/05/2024,No
"""

ACCOUNTS_MAPPING = """
source: accounts
files: export/crm_*.csv
columns:
  account_id: '"Customer ID"'
  account_name: {column: Company}
  segment: {column: Tier, values: {Basic: SMB, Premium: Enterprise}}
  created_at: {column: Signed Up, format: "%d/%m/%Y"}
  country: {value: DE}
extras:
  churn_flag: {column: Churned, values: {"Yes": "true", "No": "false"}}
"""


def _write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.fixture
def user_dir(tmp_path: Path) -> Path:
    _write(tmp_path, "export/crm_2024.csv", ACCOUNTS_CSV)
    _write(tmp_path, "mappings/accounts.yml", ACCOUNTS_MAPPING.replace("export/", "../export/"))
    return tmp_path


def test_unknown_target_and_missing_required_columns_are_named() -> None:
    text = "source: accounts\nfiles: a.csv\ncolumns: {account_id: id, acount_name: name, segment: tier}\n"
    with pytest.raises(MappingError) as err:
        parse_mapping(text, "maps/accounts.yml")
    msg = str(err.value)
    assert "maps/accounts.yml" in msg
    assert "'acount_name' is not a column of source accounts" in msg
    assert "required column 'account_name'" in msg and "required column 'created_at'" in msg


def test_shape_errors() -> None:
    with pytest.raises(MappingError, match="give exactly one of column, expr or value"):
        parse_mapping("files: a.csv\ncolumns: {account_id: {column: a, value: b}}", "accounts.yml")
    with pytest.raises(MappingError, match="no strptime directive"):
        parse_mapping(
            "files: a.csv\ncolumns: {created_at: {column: d, format: 'dd/mm/yyyy'}}", "accounts.yml"
        )
    with pytest.raises(MappingError, match="either `files`"):
        parse_mapping("columns: {account_id: a}", "accounts.yml")
    with pytest.raises(MappingError, match="unknown source 'acounts'"):
        parse_mapping("files: a.csv\ncolumns: {}", "acounts.yml")


def test_expression_with_unknown_source_column_fails_the_limit_0_projection(user_dir: Path) -> None:
    text = ACCOUNTS_MAPPING.replace("{column: Company}", "upper(company_name)").replace(
        "export/", "../export/"
    )
    loaded = parse_mapping(text, user_dir / "mappings" / "accounts.yml")
    with pytest.raises(MappingError) as err:
        check_mapping(loaded)
    msg = str(err.value)
    assert str(user_dir / "mappings" / "accounts.yml") in msg
    assert "column 'account_name'" in msg and "company_name" in msg


def test_bad_strptime_directive_is_reported(user_dir: Path) -> None:
    text = ACCOUNTS_MAPPING.replace("%d/%m/%Y", "%d/%Q/%Y").replace("export/", "../export/")
    with pytest.raises(MappingError, match="column 'created_at': bad format string '%d/%Q/%Y'"):
        check_mapping(parse_mapping(text, user_dir / "mappings" / "accounts.yml"))


def test_mappings_folder_names_must_be_sources(tmp_path: Path) -> None:
    _write(tmp_path, "crm.yml", ACCOUNTS_MAPPING)
    with pytest.raises(MappingError, match="crm.yml: file name must be <source>.yml"):
        load_mappings(tmp_path)


def test_load_through_mapping_quarantines_with_user_columns(user_dir: Path, tmp_path: Path) -> None:
    con = duckdb.connect()
    result = load_source(con, "accounts", tmp_path / "landing", mappings_dir=user_dir / "mappings")
    (fl,) = result.files
    assert fl.path == "../export/crm_2024.csv"
    assert (fl.rows_landed, fl.rows_loaded, fl.rows_quarantined) == (4, 3, 1)
    rows = con.execute(
        "select account_id, segment, country, created_at from raw.accounts order by 1"
    ).fetchall()
    assert [(r[0], r[1], r[2], str(r[3])) for r in rows] == [
        ("c1", "SMB", "DE", "2024-10-16 00:00:00"),
        ("c2", "Enterprise", "DE", "2023-02-01 00:00:00"),
        ("c4", "Gold", "DE", "2024-05-05 00:00:00"),  # unmapped: passes through (segments are free)
    ]
    q = con.execute(
        "select source_file, row_number, column_name, reason, raw_values from raw._quarantine order by row_number"
    ).fetchall()
    assert [(r[0], r[1], r[2]) for r in q] == [
        ("../export/crm_2024.csv", 3, "created_at"),  # 31/02 does not exist: that row only
    ]
    assert q[0][3] == "value 31/02/2024 does not match format %d/%m/%Y"
    assert json.loads(q[0][4]) == {
        "Customer ID": "c3",
        "Company": "Initech",
        "Tier": "Basic",
        "Signed Up": "31/02/2024",
        "Churned": "No",
    }
    extras = con.execute("select record_id, value from raw._mapped_extras order by 1").fetchall()
    assert extras == [("c1", "true"), ("c2", "false"), ("c4", "false")]
    # Same file again: skipped by checksum, nothing added.
    again = load_source(con, "accounts", tmp_path / "landing", mappings_dir=user_dir / "mappings")
    assert again.files[0].skipped and con.execute("select count(*) from raw.accounts").fetchone()[0] == 3


USAGE_CSV = (
    "usage_id,sub,day,what,n\nu1,s1,2024-05-01,login,3\nu2,s2,2024-05-02,export,1\nu3,s9,2024-05-03,login,2\n"
)
SUBS_CSV = "subscription_id,account_id\ns1,c1\ns2,c2\n"
USAGE_MAPPING = """
inputs: {usage: ../export/usage.csv, subs: ../export/subs.csv}
query: select usage.*, subs.account_id from usage left join subs on subs.subscription_id = usage.sub
columns:
  event_id: usage_id
  account_id: account_id
  user_id: "'user-' || sub"
  feature: what
  event_at: {column: day, format: "%Y-%m-%d"}
  quantity: {column: n, scale: 0.5}
"""


def test_query_mapping_joins_a_lookup_and_keeps_row_accounting(tmp_path: Path) -> None:
    _write(tmp_path, "export/usage.csv", USAGE_CSV)
    _write(tmp_path, "export/subs.csv", SUBS_CSV)
    _write(tmp_path, "mappings/usage_events.yml", USAGE_MAPPING)
    con = duckdb.connect()
    result = load_source(con, "usage_events", tmp_path / "landing", mappings_dir=tmp_path / "mappings")
    fl = result.files[0]
    assert (fl.rows_landed, fl.rows_loaded, fl.rows_quarantined) == (3, 2, 1)
    assert con.execute(
        "select account_id, user_id, quantity from raw.usage_events order by 1"
    ).fetchall() == [
        ("c1", "user-s1", 1.5),
        ("c2", "user-s2", 0.5),
    ]
    row = con.execute("select row_number, column_name, reason from raw._quarantine").fetchone()
    assert row == (3, "account_id", "required value is missing")  # s9 has no subscription


def test_query_that_duplicates_rows_fails_the_file(tmp_path: Path) -> None:
    _write(tmp_path, "export/usage.csv", USAGE_CSV)
    _write(tmp_path, "export/subs.csv", SUBS_CSV + "s1,c7\n")  # s1 twice: the join fans out
    _write(tmp_path, "mappings/usage_events.yml", USAGE_MAPPING)
    con = duckdb.connect()
    with pytest.raises(IngestError, match=r"usage\.csv.*must return each row of input 'usage' once"):
        load_source(con, "usage_events", tmp_path / "landing", mappings_dir=tmp_path / "mappings")
    assert con.execute("select count(*) from raw._load_batches").fetchone()[0] == 0
