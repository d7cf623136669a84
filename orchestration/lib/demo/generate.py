"""Synthetic demo data: one Parquet file per landing source, with a planted signal and planted flaws.

Everything is generated inside one in-memory DuckDB connection with set-based SQL: nothing is
generated row by row in Python. Randomness never comes from `random()`: every draw is a hash of
(seed, purpose tag, ids...) mapped to [0, 1), so the output does not depend on thread scheduling
and the same seed gives byte-identical files. See docs/demo-data.md for what is generated, the
planted signal and the flaw rates.

No Dagster imports here: the CLI (`healthscore demo-data`) and the Dagster assets both call
`generate_demo_data`.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from collections.abc import Callable
from pathlib import Path

import duckdb
import yaml

from orchestration.lib import clock
from orchestration.lib.contracts.sources import CONTRACTS
from orchestration.lib.demo.accounts import (
    _build_account_days,
    _build_account_metrics,
    _build_accounts,
    _build_invoices,
    _build_overrides,
    _build_subscriptions,
)
from orchestration.lib.demo.activity import (
    _build_notes,
    _build_social,
    _build_surveys,
    _build_tickets,
    _build_usage,
)
from orchestration.lib.demo.params import DEMO_DECLARATIONS
from orchestration.lib.demo.sql import _Sql
from orchestration.lib.engines.dialect import quote_literal
from orchestration.lib.ingest.declarations import LANDING_DECLARATIONS

# Tables built in file order already (see _build_usage); the others are sorted when written.
_PRESORTED = {"usage_events"}


def generate_demo_data(
    landing_dir: Path,
    accounts: int = 500,
    days: int = 365,
    seed: int = 42,
    end_date: dt.date | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict:
    """Write one demo Parquet file per source to `<landing_dir>/<source>/demo_<source>.parquet`.

    The data covers `end_date - days + 1 .. end_date` (account creation dates may precede it).
    Returns a summary: rows per source, planted fate counts, planted flaw counts, seconds.
    """
    if accounts < 10:
        raise ValueError("accounts must be at least 10")
    if not 30 <= days <= 10000:
        raise ValueError("days must be between 30 and 10,000")
    if accounts > 999_999:
        raise ValueError("accounts must be below 1,000,000")
    started = time.perf_counter()
    say = progress or (lambda _msg: None)
    end = end_date or clock.today()
    start = end - dt.timedelta(days=days - 1)
    landing_dir = Path(landing_dir)
    r = _Sql(seed)
    N, D = int(accounts), int(days)
    S = f"DATE '{start.isoformat()}'"
    export_ts = f"(DATE '{end.isoformat()}' + INTERVAL 1 DAY)::TIMESTAMP"  # exclusive export instant

    con = duckdb.connect(":memory:")
    try:
        con.execute("set autoinstall_known_extensions = false")
        con.execute("set autoload_known_extensions = false")
        con.execute("set preserve_insertion_order = true")

        steps: dict[str, float] = {}

        def step(name: str, fn: Callable[..., None], *args) -> None:
            t = time.perf_counter()
            fn(con, r, *args)
            steps[name] = round(time.perf_counter() - t, 2)
            say(f"{name}: {steps[name]} s")

        say(f"{N} accounts, window {start} .. {end}, seed {seed}")
        step("accounts", _build_accounts, N, D, S)
        step("subscriptions", _build_subscriptions, D, S, end)
        step("account_days", _build_account_days, D, S)
        step("usage_events", _build_usage, D, export_ts)
        step("support_tickets", _build_tickets, export_ts)
        step("survey_responses", _build_surveys, D, S, export_ts)
        step("invoices", _build_invoices, S, end)
        step("account_notes", _build_notes, D, S)
        step("social_mentions", _build_social)
        step("overrides", _build_overrides, end)
        step("account_metrics", _build_account_metrics, export_ts)

        rows: dict[str, int] = {}
        files: dict[str, str] = {}
        for source, contract in CONTRACTS.items():
            folder = landing_dir / source
            folder.mkdir(parents=True, exist_ok=True)
            target = folder / f"demo_{source}.parquet"
            tmp = folder / f".demo_{source}.parquet.tmp"
            t_write = time.perf_counter()
            attributes = list(DEMO_DECLARATIONS.get(source, {}).get("attributes", {}))
            cols = ", ".join(f'"{c}"' for c in [*contract.column_names, *attributes])
            con.execute(
                f"copy (select {cols} from out_{source}{'' if source in _PRESORTED else ' order by __ord'}) "
                f"to {quote_literal(str(tmp))} "
                "(format parquet, compression zstd, row_group_size 262144)"
            )
            os.replace(tmp, target)
            if source in DEMO_DECLARATIONS:
                (folder / LANDING_DECLARATIONS).write_text(
                    "# Custom features of the demo data (docs/features.md, docs/demo-data.md).\n"
                    + yaml.safe_dump(DEMO_DECLARATIONS[source], sort_keys=False)
                )
            steps[f"write_{source}"] = round(time.perf_counter() - t_write, 2)
            rows[source] = con.execute(f"select count(*) from out_{source}").fetchone()[0]
            files[source] = str(target)
            say(f"wrote {target} ({rows[source]:,} rows)")

        summary = {
            "window": {"start": start.isoformat(), "end": end.isoformat(), "days": D},
            "accounts": N,
            "seed": seed,
            "rows": rows,
            "files": files,
            "planted": _planted_counts(con),
            "flaws": _flaw_counts(con),
            "step_seconds": steps,
        }
    finally:
        con.close()
    summary["seconds"] = round(time.perf_counter() - started, 2)
    say(f"done in {summary['seconds']} s")
    return summary


# --------------------------------------------------------------------------------------------
# summary
# --------------------------------------------------------------------------------------------
def _planted_counts(con: duckdb.DuckDBPyConnection) -> dict:
    fates = dict(con.execute("select fate, count(*) from acct group by fate").fetchall())
    q = lambda sql: con.execute(sql).fetchone()[0]  # noqa: E731
    outcomes = dict(con.execute("select outcome_type, count(*) from out_outcomes group by 1").fetchall())
    return {
        "churn": fates.get("churn", 0),
        "silent_sufferers": fates.get("silent", 0),
        "silent_churn": q("select count(*) from acct where fate = 'silent' and churn_d is not null"),
        "churn_total": q("select count(*) from acct where churn_d is not null"),
        "expansion": fates.get("expand", 0),
        "downgrade": fates.get("downgrade", 0),
        "renew": fates.get("renew", 0),
        "new_accounts_in_window": q("select count(*) from acct where is_new"),
        "subsidiaries": q("select count(*) from acct where parent_a is not null"),
        "temporary_dips": q("select count(*) from acct where dip_s is not null"),
        "outcomes": {k: outcomes.get(k, 0) for k in ("churn", "renewal", "downgrade", "expansion")},
    }


def _flaw_counts(con: duckdb.DuckDBPyConnection) -> dict:
    q = lambda sql: con.execute(sql).fetchone()[0]  # noqa: E731
    has_pii = "({c} like '% Contact me at %' or {c} like '% Call me on %')"
    pii = sum(
        q(f"select count(*) from {t} where {has_pii.format(c=c)}")
        for t, c in (
            ("(select * from out_support_tickets where dup = 0)", "body"),
            ("out_survey_responses", "verbatim"),
            ("out_account_notes", "note_text"),
            ("out_social_mentions", "mention_text"),
        )
    )
    return {
        "usage_duplicates": q("select count(*) from out_usage_events where dup"),
        "ticket_duplicates": q("select count(*) from out_support_tickets where dup = 1"),
        "usage_late_arrivals": q(
            "select count(*) from out_usage_events where is_late and received_at is not null and not dup"
        ),
        "usage_null_account_id": q("select count(*) from out_usage_events where flaw = 'null' and not dup"),
        "usage_unknown_account_id": q(
            "select count(*) from out_usage_events where flaw = 'unknown' and not dup"
        ),
        "usage_after_churn": q(
            "select count(*) from out_usage_events e join acct ac on e.a = ac.a "
            "where ac.churn_d is not null and e.d >= ac.churn_d"
        ),
        "ticket_bad_opened_at": q("select count(*) from out_support_tickets where bad_ts and dup = 0"),
        "ticket_bad_priority": q("select count(*) from out_support_tickets where bad_pri and dup = 0"),
        "ticket_priority_other_case": q(
            "select count(*) from out_support_tickets where priority not in ('P1', 'low', 'normal', 'high', "
            "'urgent') and dup = 0"
        ),
        "invoice_bad_amount": q("select count(*) from out_invoices where bad_amount"),
        "pii_texts": pii,
        "optional_nulls": {
            "accounts.industry": q("select count(*) from out_accounts where industry is null"),
            "accounts.country": q("select count(*) from out_accounts where country is null"),
            "subscriptions.arr": q("select count(*) from out_subscriptions where arr is null"),
            "subscriptions.discount_pct": q(
                "select count(*) from out_subscriptions where discount_pct is null"
            ),
            "usage_events.quantity": q("select count(*) from out_usage_events where quantity is null"),
            "usage_events.received_at": q("select count(*) from out_usage_events where received_at is null"),
            "support_tickets.subject": q("select count(*) from out_support_tickets where subject is null"),
            "survey_responses.respondent_id": q(
                "select count(*) from out_survey_responses where respondent_id is null"
            ),
            "account_notes.note_text": q("select count(*) from out_account_notes where note_text is null"),
        },
    }
