"""Bad input never breaks a load: malformed lines, odd encodings, future dates and out-of-range
values are quarantined row by row with the reader's full reason; whole-file rejection only when
nothing in the file is readable (docs/reliability.md)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pytest

from orchestration.lib.ingest.files import IngestError
from orchestration.lib.ingest.loader import load_source

TICKETS_HEADER = "ticket_id,account_id,opened_at,closed_at,priority,status,csat_score,subject,body"
GOOD = "T{n},A1,2026-01-0{n} 10:00:00,,low,open,4,Login,Cannot log in"
NOW = dt.datetime(2026, 3, 1, 12, 0)


@pytest.fixture()
def con():
    connection = duckdb.connect()
    yield connection
    connection.close()


def _land(tmp_path: Path, name: str, content: bytes | str, source: str = "support_tickets") -> Path:
    landing = tmp_path / "landing"
    (landing / source).mkdir(parents=True, exist_ok=True)
    path = landing / source / name
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return landing


def _quarantine(con) -> list[tuple]:
    return con.execute(
        "select row_number, column_name, reason, raw_values from raw._quarantine order by row_number"
    ).fetchall()


def test_short_long_and_truncated_lines_are_quarantined_the_rest_loads(con, tmp_path):
    lines = [
        TICKETS_HEADER,
        GOOD.format(n=1),
        "T2,A1,2026-01-02 10:00:00,,low,open",  # short
        GOOD.format(n=3),
        "T4,A1,2026-01-04 10:00:00,,low,open,4,Login,Cannot log in,EXTRA,MORE",  # long
        GOOD.format(n=5),
        "T6,A1,2026-01-06 10:0",  # truncated last line, no newline
    ]
    landing = _land(tmp_path, "tickets.csv", "\n".join(lines))
    result = load_source(con, "support_tickets", landing, loaded_at=NOW)
    assert (result.rows_landed, result.rows_loaded, result.rows_quarantined) == (6, 3, 3)
    loaded = con.execute("select ticket_id, _row_number from raw.support_tickets order by 2").fetchall()
    assert loaded == [("T1", 1), ("T3", 3), ("T5", 5)]  # row numbers of the file, not of the survivors
    rows = _quarantine(con)
    assert [r[0] for r in rows] == [2, 4, 6]
    assert "MISSING COLUMNS: Expected Number of Columns: 9 Found: 6" in rows[0][2]
    assert "TOO MANY COLUMNS: Expected Number of Columns: 9" in rows[1][2]
    assert "MISSING COLUMNS" in rows[2][2]
    assert rows[0][3] == "T2,A1,2026-01-02 10:00:00,,low,open"  # the line as it was
    batch = con.execute("select rows_landed, rows_loaded, rows_quarantined from raw._load_batches").fetchone()
    assert batch == (6, 3, 3)


def test_a_latin1_line_is_quarantined_with_the_encoding_reason(con, tmp_path):
    text = "\n".join(
        [
            TICKETS_HEADER,
            GOOD.format(n=1),
            "T2,A1,2026-01-02 10:00:00,,low,open,4,Caf\xe9,cr\xe8me",
            GOOD.format(n=3),
        ]
    )
    landing = _land(tmp_path, "latin1.csv", text.encode("latin-1"))
    result = load_source(con, "support_tickets", landing, loaded_at=NOW)
    assert (result.rows_loaded, result.rows_quarantined) == (2, 1)
    (row,) = _quarantine(con)
    assert row[0] == 2 and "INVALID ENCODING" in row[2] and "not utf-8 encoded" in row[2]


def test_a_five_megabyte_field_loads(con, tmp_path):
    body = "x" * 5_000_000
    text = "\n".join(
        [
            TICKETS_HEADER,
            GOOD.format(n=1),
            f"T2,A1,2026-01-02 10:00:00,,low,open,4,Big,{body}",
            GOOD.format(n=3),
        ]
    )
    landing = _land(tmp_path, "big.csv", text)
    result = load_source(con, "support_tickets", landing, loaded_at=NOW)
    assert (result.rows_loaded, result.rows_quarantined) == (3, 0)
    assert (
        con.execute("select length(body) from raw.support_tickets where ticket_id = 'T2'").fetchone()[0]
        == 5_000_000
    )


def test_a_utf16_file_loads(con, tmp_path):
    text = "\n".join([TICKETS_HEADER, GOOD.format(n=1), GOOD.format(n=2)]) + "\n"
    landing = _land(tmp_path, "utf16.csv", text.encode("utf-16"))
    assert load_source(con, "support_tickets", landing, loaded_at=NOW).rows_loaded == 2


def test_a_header_only_file_loads_zero_rows(con, tmp_path):
    landing = _land(tmp_path, "header_only.csv", TICKETS_HEADER + "\n")
    result = load_source(con, "support_tickets", landing, loaded_at=NOW)
    assert (result.rows_landed, result.rows_loaded, result.rows_quarantined) == (0, 0, 0)
    assert con.execute("select rows_landed from raw._load_batches").fetchone() == (0,)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("empty.csv", b"", "the file is empty (0 bytes: no header, no rows)"),
        (
            "binary.csv",
            bytes(range(256)) * 40,
            "It was not possible to automatically detect the CSV parsing dialect",
        ),
        (
            "all_short.csv",
            TICKETS_HEADER + "\nT1,A1\nT2,A1\n",
            "none of its 2 data line(s) can be read; 2 of them (first: row 1): line not readable as CSV: "
            "MISSING COLUMNS: Expected Number of Columns: 9 Found: 2",
        ),
        ("notjson.jsonl", "not json\n[1, 2]\n", "none of its 2 data line(s) can be read"),
    ],
)
def test_whole_file_rejection_only_when_nothing_is_readable_with_the_real_cause(
    con, tmp_path, name, content, message
):
    landing = _land(tmp_path, name, content)
    with pytest.raises(IngestError) as err:
        load_source(con, "support_tickets", landing, loaded_at=NOW)
    assert f"file support_tickets/{name}" in str(err.value)
    assert message in str(err.value)
    assert "LINE 1" not in str(err.value)  # DuckDB's echo of our SQL is not a reason


def test_a_jsonl_line_that_is_not_an_object_is_quarantined(con, tmp_path):
    landing = _land(
        tmp_path,
        "mentions.jsonl",
        '{"mention_id": "J1", "account_id": "A1", "channel": "g2", "mentioned_at": "2026-02-01T10:00:00"}\n'
        "[1, 2]\n"
        "{broken\n"
        '{"mention_id": "J4", "account_id": "A1", "channel": "g2", "mentioned_at": "2026-02-02T10:00:00"}\n',
        source="social_mentions",
    )
    result = load_source(con, "social_mentions", landing, loaded_at=NOW)
    assert (result.rows_landed, result.rows_loaded, result.rows_quarantined) == (4, 2, 2)
    rows = _quarantine(con)
    assert [(r[0], r[2]) for r in rows] == [
        (2, "line not readable as JSON Lines: a JSON array, not an object"),
        (3, "line not readable as JSON Lines: not valid JSON"),
    ]


def test_future_dated_records_are_quarantined(con, tmp_path):
    lines = [
        TICKETS_HEADER,
        GOOD.format(n=1),
        "T2,A1,2099-01-01 00:00:00,,low,open,4,Future,x",
        "T3,A1,2026-03-02 09:00:00,,low,open,4,Tomorrow,x",
    ]
    landing = _land(tmp_path, "tickets.csv", "\n".join(lines) + "\n")
    result = load_source(con, "support_tickets", landing, loaded_at=NOW, now=NOW)
    assert (result.rows_loaded, result.rows_quarantined) == (2, 1)  # within a day: clocks and time zones
    ((row, column, reason, _),) = _quarantine(con)
    assert (row, column) == (2, "opened_at")
    assert reason.startswith("dated in the future: 2099-01-01 00:00:00 is after 2026-03-02 12:00 UTC")


def test_future_dates_are_measured_from_the_reference_date(con, tmp_path, monkeypatch):
    monkeypatch.setenv("HEALTHSCORE_REFERENCE_DATE", "2026-01-02")
    lines = [TICKETS_HEADER, GOOD.format(n=1), GOOD.format(n=3), GOOD.format(n=5)]
    landing = _land(tmp_path, "tickets.csv", "\n".join(lines) + "\n")
    result = load_source(con, "support_tickets", landing, loaded_at=NOW, now=NOW)
    # the reference time is the end of 2026-01-02; + 1 day: 2026-01-04 00:00
    assert [r[0] for r in _quarantine(con)] == [3]
    assert result.rows_loaded == 2


def test_contract_terms_may_be_dated_ahead(con, tmp_path):
    csv = (
        "subscription_id,account_id,plan,seats,mrr,arr,currency,start_date,end_date,renewal_date,status,discount_pct\n"
        "S1,A1,pro,10,100,,usd,2027-01-01,,2028-01-01,active,0\n"
    )
    landing = _land(tmp_path, "subs.csv", csv, source="subscriptions")
    assert load_source(con, "subscriptions", landing, loaded_at=NOW, now=NOW).rows_loaded == 1


def test_a_value_that_would_corrupt_scores_is_quarantined_not_blocking(con, tmp_path):
    lines = [
        TICKETS_HEADER,
        GOOD.format(n=1),
        "T2,A1,2026-01-02 10:00:00,,low,closed,-3,Bad,x",
        GOOD.format(n=3),
    ]
    landing = _land(tmp_path, "tickets.csv", "\n".join(lines) + "\n")
    result = load_source(con, "support_tickets", landing, loaded_at=NOW)
    assert (result.rows_loaded, result.rows_quarantined) == (2, 1)
    ((row, column, reason, _),) = _quarantine(con)
    assert (row, column, reason) == (2, "csat_score", "value -3 is below the minimum 1")


def test_an_error_cross_field_rule_quarantines_its_row(con, tmp_path):
    csv = (
        "response_id,account_id,respondent_id,survey_type,sent_at,responded_at,score,verbatim\n"
        "R1,A1,P1,csat,2026-01-01,2026-01-02,4,ok\n"
        "R2,A1,P1,csat,2026-01-01,2026-01-02,9,csat is 1-5\n"
        "R3,A1,P1,nps,2026-01-01,2026-01-02,9,nps is 0-10\n"
    )
    landing = _land(tmp_path, "surveys.csv", csv, source="survey_responses")
    result = load_source(con, "survey_responses", landing, loaded_at=NOW)
    assert (result.rows_loaded, result.rows_quarantined) == (2, 1)
    ((row, column, reason, _),) = _quarantine(con)
    assert (row, column) == (2, "survey_type, score") and reason.startswith("csat_score_between_1_and_5")


def test_a_huge_field_is_masked_in_linear_time():
    """The PII masking of excerpts and published quarantine rows on a 1 MB field without spaces
    (unbounded regex repetitions backtracked quadratically: hours for a 5 MB ticket body)."""
    from orchestration.lib.sentiment.model import mask_pii

    text = "x" * 1_000_000 + " write to jane.doe@example.com or +1 (415) 555-0199"
    assert mask_pii(text).endswith(" write to [email] or [phone]")
