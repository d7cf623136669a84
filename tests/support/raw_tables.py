"""Raw tables as the loader writes them (contract columns + load metadata), for tests that need
raw data without running the loader."""

from __future__ import annotations

import datetime as dt

from orchestration.lib.contracts.sources import CONTRACTS, LOAD_METADATA_COLUMNS
from orchestration.lib.engines.dialect import quote_ident


def create_raw_table(con, source: str, *, replace: bool = True) -> None:
    """`raw.<source>` with the contract's columns and the loader's metadata columns, empty."""
    cols = [(c.name, c.type) for c in CONTRACTS[source].columns] + [
        (n, t) for n, t, _ in LOAD_METADATA_COLUMNS
    ]
    con.execute("create schema if not exists raw")
    ddl = ", ".join(f"{quote_ident(n)} {t}" for n, t in cols)
    create = "create or replace table" if replace else "create table if not exists"
    con.execute(f"{create} raw.{quote_ident(source)} ({ddl})")


def insert_raw_rows(
    con,
    source: str,
    rows: list[dict],
    *,
    loaded_at: dt.datetime,
    batch: str = "b1",
    source_file: str | None = None,
) -> None:
    """Append `rows` to `raw.<source>` as one load batch (columns a row lacks stay null)."""
    for i, row in enumerate(rows, start=1):
        row = dict(
            row,
            _batch_id=batch,
            _source_file=source_file or f"{source}/f.csv",
            _file_checksum="0" * 64,
            _row_number=i,
            _loaded_at=loaded_at,
        )
        names = ", ".join(quote_ident(k) for k in row)
        marks = ", ".join("?" for _ in row)
        con.execute(f"insert into raw.{quote_ident(source)} ({names}) values ({marks})", list(row.values()))


def create_raw(con, source: str, rows: list[dict], *, loaded_at: dt.datetime) -> None:
    """A fresh `raw.<source>` holding `rows` as one batch."""
    create_raw_table(con, source)
    insert_raw_rows(con, source, rows, loaded_at=loaded_at)


def account_row(account_id: str, now: dt.datetime, **overrides) -> dict:
    """A valid raw.accounts row, created 30 days before `now`."""
    row = {
        "account_id": account_id,
        "account_name": f"Acme {account_id}",
        "segment": "SMB",
        "industry": "software",
        "country": "DE",
        "owner": "olga",
        "parent_account_id": None,
        "created_at": now - dt.timedelta(days=30),
    }
    return row | overrides


def ticket_row(ticket_id: str, account_id: str, now: dt.datetime, **overrides) -> dict:
    """A valid raw.support_tickets row, opened 2 days and solved 1 day before `now`."""
    row = {
        "ticket_id": ticket_id,
        "account_id": account_id,
        "opened_at": now - dt.timedelta(days=2),
        "closed_at": now - dt.timedelta(days=1),
        "priority": "high",
        "status": "solved",
        "csat_score": 4,
        "subject": "s",
        "body": "b",
    }
    return row | overrides
