"""What is published never carries personal data from quarantine, and publishing starts by
removing what an interrupted publish left behind (docs/reliability.md)."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb

from orchestration.lib.engines.warehouse import connect
from orchestration.lib.publish.snapshot import publish
from orchestration.lib.publish.tables import SNAPSHOT_NAME
from tests.unit.test_publish_incremental import DAY, _schema, _score

EMAIL = "jane.doe@example.com"
PHONE = "+1 (415) 555-0199"
PII = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+\.[A-Za-z]|\(415\)|555-0199")


def _warehouse(tmp_path: Path) -> Path:
    path = tmp_path / "wh" / "wh.duckdb"
    with connect(path) as con:
        _schema(con)
        _score(con, [DAY])
        con.execute(
            "insert into raw._quarantine values ('b9', 'support_tickets', 'support_tickets/t.csv', 7, 'csat_score', "
            "'value -3 is below the minimum 1', ?, now())",
            [f'{{"ticket_id": "T-000007-0-02", "body": "call {PHONE} or mail {EMAIL} about 2026-01-02"}}'],
        )
    return path


def _every_published_text(out: Path) -> str:
    """Every value of every table of the snapshot and of every Parquet file, as text."""
    texts = []
    with duckdb.connect(str(out / SNAPSHOT_NAME), read_only=True) as con:
        for schema, table in con.execute(
            "select table_schema, table_name from information_schema.tables"
        ).fetchall():
            texts.append(str(con.execute(f'select * from "{schema}"."{table}"').fetchall()))
    con = duckdb.connect()
    for path in out.rglob("*.parquet"):
        texts.append(str(con.execute(f"select * from read_parquet('{path}')").fetchall()))
    return "\n".join(texts)


def test_no_email_or_phone_in_any_published_table_or_file(tmp_path):
    warehouse = _warehouse(tmp_path)
    out = tmp_path / "published"
    with connect(warehouse) as con:
        publish(con, out)  # a full copy
        _score(con, [DAY])
        publish(con, out)  # and an incremental update
    published = _every_published_text(out)
    # identifiers with long digit runs stay readable (a reviewer finds the row by them)
    assert "T-000007-0-02" in published and "[email]" in published and "[phone]" in published
    assert not PII.search(published), PII.search(published)
    # the live table keeps the rows as loaded (docs/reliability.md: who may read it)
    with connect(warehouse, read_only=True) as con:
        assert EMAIL in con.execute("select string_agg(raw_values, ' ') from raw._quarantine").fetchone()[0]


def test_publishing_removes_the_debris_of_interrupted_runs(tmp_path):
    warehouse = _warehouse(tmp_path)
    out = tmp_path / "published"
    with connect(warehouse) as con:
        publish(con, out)
    # what kills at different stages of a publish leave behind
    debris = [
        out / f".{SNAPSHOT_NAME}.0badc0de.tmp",
        out / f".{SNAPSHOT_NAME}.0badc0de.tmp.wal",
        out / ".manifest.0badc0de.tmp",
        out / "parquet" / "._published.json.0badc0de.tmp",
        out / "parquet" / ".raw._quarantine.parquet.0badc0de.tmp",
        out / "parquet" / "bi.fct_health_scores" / ".as_of_date_2026-11-01.parquet.0badc0de.tmp",
        out
        / "parquet"
        / "bi.fct_health_scores"
        / ".partitioned.0badc0de.tmp"
        / "as_of_date=2026-11-01"
        / "data_0.parquet",
    ]
    for path in debris:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"PAR1 truncated")
    logged: list[str] = []
    with connect(warehouse) as con:
        publish(con, out, log=logged.append)
    assert not [p for p in debris if p.exists()]
    assert not list(out.rglob("*.tmp"))
    assert any("interrupted publish" in line for line in logged)
    # a reader globbing every Parquet file reads them all
    con = duckdb.connect()
    for table in (out / "parquet").iterdir():
        if table.is_dir():
            con.execute(f"select count(*) from read_parquet('{table}/**/*.parquet')").fetchall()
