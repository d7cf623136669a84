"""Landing files -> raw tables: quarantine, idempotency and whole-file rejection."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from orchestration.lib.ingest.files import IngestError
from orchestration.lib.ingest.loader import load_source

ACCOUNTS_CSV = """account_id,account_name,industry,segment,country,owner,created_at,parent_account_id,crm_extra
A1,Acme,Software,smb,US,Jo,2024-01-01,,x
A2,Beta,Retail,Enterprise,DE,Jo,2024-02-01 10:00:00,,y
,NoId,Retail,SMB,DE,Jo,2024-02-01,,z
A4,Bad,Retail,Huge,DE,Jo,not-a-date,,z
A5,Gamma,Retail,Mid-Market,FR,Al,2024-03-01,A2,z
"""


@pytest.fixture()
def landing(tmp_path: Path) -> Path:
    root = tmp_path / "landing"
    (root / "accounts").mkdir(parents=True)
    (root / "accounts" / "crm_export.csv").write_text(ACCOUNTS_CSV)
    return root


@pytest.fixture()
def con():
    connection = duckdb.connect()
    yield connection
    connection.close()


def test_contract_violations_are_quarantined_with_reasons(con, landing):
    result = load_source(con, "accounts", landing)
    assert (result.rows_landed, result.rows_loaded, result.rows_quarantined) == (5, 3, 2)
    assert [r[0] for r in con.execute("select account_id from raw.accounts order by 1").fetchall()] == [
        "A1",
        "A2",
        "A5",
    ]
    # Segments are not an enum (any value loads; staging spells SMB / Mid-Market / Enterprise
    # canonically), so only the missing id and the bad date quarantine.
    assert con.execute("select segment from raw.accounts where account_id = 'A1'").fetchone()[0] == "smb"
    quarantined = con.execute(
        """select source, source_file, row_number, column_name, reason, raw_values
        from raw._quarantine order by row_number, column_name"""
    ).fetchall()
    assert [(q[0], q[1], q[2], q[3]) for q in quarantined] == [
        ("accounts", "accounts/crm_export.csv", 3, "account_id"),
        ("accounts", "accounts/crm_export.csv", 4, "created_at"),
    ]
    reasons = {q[3]: q[4] for q in quarantined}
    assert reasons["account_id"] == "required value is missing"
    assert reasons["created_at"] == "cannot parse not-a-date as timestamp"
    assert '"account_name":"NoId"' in quarantined[0][5]


def test_row_accounting_holds_per_batch(con, landing):
    load_source(con, "accounts", landing)
    landed, loaded, quarantined, ignored = con.execute(
        "select rows_landed, rows_loaded, rows_quarantined, ignored_columns from raw._load_batches"
    ).fetchone()
    distinct_quarantined = con.execute("select count(distinct row_number) from raw._quarantine").fetchone()[0]
    in_raw = con.execute("select count(*) from raw.accounts").fetchone()[0]
    assert landed == loaded + quarantined == in_raw + distinct_quarantined
    assert ignored == "crm_extra"


def test_loading_the_same_file_twice_adds_nothing(con, landing):
    first = load_source(con, "accounts", landing)
    # Same bytes under another name, and the original again.
    (landing / "accounts" / "copy_of_export.csv").write_text(ACCOUNTS_CSV)
    second = load_source(con, "accounts", landing)
    assert first.rows_loaded == 3
    assert second.rows_loaded == 0 and all(f.skipped for f in second.files)
    assert con.execute("select count(*) from raw.accounts").fetchone()[0] == 3
    assert con.execute("select count(*) from raw._quarantine").fetchone()[0] == 2
    assert con.execute("select count(*) from raw._load_batches").fetchone()[0] == 1


def test_load_metadata_on_every_row(con, landing):
    load_source(con, "accounts", landing)
    row = con.execute(
        """select _batch_id, _source_file, length(_file_checksum), _row_number, _loaded_at is not null
        from raw.accounts where account_id = 'A5'"""
    ).fetchone()
    assert row[0].startswith("accounts-") and row[1] == "accounts/crm_export.csv"
    assert row[2] == 64 and row[3] == 5 and row[4]


def _write_bad(landing: Path, name: str, content: bytes) -> None:
    (landing / "accounts" / name).write_bytes(content)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        (
            "missing_cols.csv",
            b"account_id,account_name\nA9,Zed\n",
            "file accounts/missing_cols.csv is missing required column(s) segment, created_at",
        ),
        (
            "empty.csv",
            b"",
            "file accounts/empty.csv: the file is empty (0 bytes: no header, no rows)",
        ),
        (
            "broken.parquet",
            b"this is not parquet at all",
            "file accounts/broken.parquet cannot be read as parquet",
        ),
        (
            "unreadable.jsonl",
            b'[1, 2]\n"text"\n',
            "file accounts/unreadable.jsonl: none of its 2 data line(s) can be read",
        ),
    ],
)
def test_unusable_file_fails_the_source_and_nothing_half_loads(con, landing, name, content, message):
    _write_bad(landing, name, content)
    with pytest.raises(IngestError) as err:
        load_source(con, "accounts", landing)
    assert "source accounts" in str(err.value)
    assert message in str(err.value)
    # The good file in the same folder did not half-load either: all of the source's new files or none.
    assert con.execute("select count(*) from raw.accounts").fetchone()[0] == 0
    assert con.execute("select count(*) from raw._quarantine").fetchone()[0] == 0
    assert con.execute("select count(*) from raw._load_batches").fetchone()[0] == 0
    # Once the bad file is removed, the rest loads.
    (landing / "accounts" / name).unlink()
    assert load_source(con, "accounts", landing).rows_loaded == 3


def test_parquet_and_jsonl_load_with_row_numbers(con, tmp_path):
    landing = tmp_path / "landing"
    (landing / "social_mentions").mkdir(parents=True)
    con.execute(
        f"""copy (select 'M' || i as mention_id, 'A1' as account_id, 'twitter' as channel, 'hi' as mention_text,
            case when i = 3 then null else timestamp '2026-01-01' end as mentioned_at from range(1, 5) t(i))
        to '{landing}/social_mentions/part1.parquet' (format parquet)"""
    )
    (landing / "social_mentions" / "part2.jsonl").write_text(
        '{"mention_id": "J1", "account_id": "A1", "channel": "g2", "mentioned_at": "2026-02-01T10:00:00"}\n'
        '{"mention_id": "J2", "account_id": "A1", "channel": "g2", "mentioned_at": "yesterday"}\n'
    )
    result = load_source(con, "social_mentions", landing)
    assert (result.rows_landed, result.rows_loaded, result.rows_quarantined) == (6, 4, 2)
    bad = con.execute("select source_file, row_number from raw._quarantine order by 1").fetchall()
    assert bad == [("social_mentions/part1.parquet", 3), ("social_mentions/part2.jsonl", 2)]


def test_missing_source_folder_is_not_an_error(con, tmp_path):
    result = load_source(con, "social_mentions", tmp_path)
    assert result.files == []
    assert con.execute("select count(*) from raw.social_mentions").fetchone()[0] == 0
