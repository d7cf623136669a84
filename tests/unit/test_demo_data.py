"""The demo data generator: contract columns, determinism, the planted signal and the planted flaws.

Small on purpose (300 accounts x 200 days, well under a second per generation).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

import duckdb
import pytest

from orchestration.lib.contracts.sources import CONTRACTS
from orchestration.lib.demo.generate import generate_demo_data
from orchestration.lib.demo.params import DEMO_DECLARATIONS, FLAW_RATES

ACCOUNTS, DAYS, SEED = 300, 200, 7
END = dt.date(2026, 6, 30)
START = END - dt.timedelta(days=DAYS - 1)


def _generate(root: Path, seed: int = SEED) -> dict:
    return generate_demo_data(root, accounts=ACCOUNTS, days=DAYS, seed=seed, end_date=END)


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("landing")
    return root, _generate(root)


@pytest.fixture(scope="module")
def con(demo):
    root, _ = demo
    c = duckdb.connect()
    for source in CONTRACTS:
        path = root / source / f"demo_{source}.parquet"
        c.execute(f"create view {source} as select * from read_parquet('{path}')")
    c.execute(
        "create view churners as select account_id, outcome_date as churn_date "
        "from outcomes where outcome_type = 'churn'"
    )
    yield c
    c.close()


def _one(con, sql: str):
    return con.execute(sql).fetchone()[0]


def _checksums(root: Path) -> dict[str, str]:
    return {
        source: hashlib.sha256((root / source / f"demo_{source}.parquet").read_bytes()).hexdigest()
        for source in CONTRACTS
    }


def test_every_source_has_exactly_the_contract_columns(demo, con):
    root, summary = demo
    for source, contract in CONTRACTS.items():
        path = root / source / f"demo_{source}.parquet"
        assert path.is_file(), path
        columns = [d[0] for d in con.execute(f"select * from {source} limit 0").description]
        # plus the custom attributes the demo declares in <source>/_features.yml
        attributes = list(DEMO_DECLARATIONS.get(source, {}).get("attributes", {}))
        assert columns == contract.column_names + attributes, source
        assert summary["rows"][source] == _one(con, f"select count(*) from {source}")
        assert summary["rows"][source] > 0, source
    # Only the demo file is written (no temporary files left behind).
    assert sorted(p.name for p in (root / "accounts").iterdir()) == ["_features.yml", "demo_accounts.parquet"]


def test_same_seed_gives_identical_files_and_another_seed_does_not(demo, tmp_path):
    root, _ = demo
    _generate(tmp_path / "again")
    assert _checksums(tmp_path / "again") == _checksums(root)
    _generate(tmp_path / "other", seed=SEED + 1)
    assert _checksums(tmp_path / "other")["usage_events"] != _checksums(root)["usage_events"]


def test_rerun_overwrites_the_demo_file(tmp_path):
    generate_demo_data(tmp_path, accounts=50, days=60, seed=1, end_date=END)
    summary = generate_demo_data(tmp_path, accounts=60, days=60, seed=1, end_date=END)
    with duckdb.connect() as c:
        rows = c.execute(f"select count(*) from '{tmp_path}/accounts/demo_accounts.parquet'").fetchone()[0]
    assert rows == summary["rows"]["accounts"] == 60


def test_window_and_planted_rates(demo, con):
    _, summary = demo
    assert summary["window"] == {"start": START.isoformat(), "end": END.isoformat(), "days": DAYS}
    assert _one(con, "select min(event_at)::date from usage_events") >= START
    assert _one(con, "select max(event_at)::date from usage_events") <= END
    planted = summary["planted"]
    assert 0.07 * ACCOUNTS <= planted["churn"] <= 0.17 * ACCOUNTS
    assert 0.05 * ACCOUNTS <= planted["expansion"] <= 0.15 * ACCOUNTS
    assert planted["downgrade"] > 0 and planted["silent_sufferers"] > 0
    outcomes = dict(con.execute("select outcome_type, count(*) from outcomes group by 1").fetchall())
    assert outcomes["churn"] == planted["churn_total"]
    assert outcomes["expansion"] == planted["expansion"]
    assert outcomes["downgrade"] == planted["downgrade"]
    assert outcomes["renewal"] > 0
    # Churned contracts are cancelled on the churn date.
    assert (
        _one(
            con,
            "select count(*) from churners c left join subscriptions s "
            "on s.account_id = c.account_id and s.status = 'cancelled' and s.end_date = c.churn_date "
            "where s.subscription_id is null",
        )
        == 0
    )
    # The export describes each term as contracted: a renewal date a year after its start on every
    # term, cancelled (churn) and replaced (expansion, downgrade) ones too. Only status and end_date
    # say what happened at churn: an export loaded once stands for earlier dates, where they were not
    # yet known (docs/demo-data.md, "What the exports know").
    assert _one(con, "select count(*) from subscriptions where status = 'cancelled'") > 0
    assert (
        _one(
            con,
            "select count(*) from subscriptions "
            "where renewal_date is distinct from (start_date + interval 1 year)::date",
        )
        == 0
    )
    # Expanders got a second, larger subscription.
    assert (
        _one(
            con,
            "select min(delta) from (select o.account_id, o.mrr_delta as delta from outcomes o "
            "where o.outcome_type = 'expansion')",
        )
        > 0
    )
    # Segments follow size; subsidiaries point to an Enterprise parent.
    assert {r[0] for r in con.execute("select distinct segment from accounts").fetchall()} == {
        "SMB",
        "Mid-Market",
        "Enterprise",
    }
    assert (
        _one(
            con,
            "select count(*) from accounts c join accounts p on c.parent_account_id = p.account_id "
            "where p.segment <> 'Enterprise'",
        )
        == 0
    )


def test_usage_has_a_weekly_cycle(con):
    weekday, weekend = con.execute(
        "select count(*) filter (where isodow(event_at) <= 5) / 5.0, "
        "count(*) filter (where isodow(event_at) > 5) / 2.0 from usage_events"
    ).fetchone()
    assert weekday > 3 * weekend


def test_churners_usage_declines_before_churn(con):
    # Per churner: events per day in the 60 days before churn vs. before the decline began
    # (more than 120 days before churn), for churners with at least 30 such days in the window.
    ratio = _one(
        con,
        f"""
        with per as (
            select c.account_id,
                count(*) filter (where e.event_at::date between c.churn_date - 60 and c.churn_date - 1)
                    / 60.0 as recent,
                count(*) filter (where e.event_at::date < c.churn_date - 120)
                    / (c.churn_date - 120 - DATE '{START}')::DOUBLE as before
            from churners c join usage_events e using (account_id)
            where c.churn_date - 120 - DATE '{START}' >= 30
            group by c.account_id, c.churn_date
        )
        select median(recent / before) from per where before > 0
        """,
    )
    # Median, not a sum: sizes span orders of magnitude, and the silent sufferers who churn
    # (planted without a usage decline) are in this group too.
    assert ratio < 0.75, ratio
    # And below retained accounts: events per seat per day, median across accounts.
    churner_rate, retained_rate = con.execute(
        f"""
        with seats as (select account_id, max(seats) as seats from subscriptions group by 1),
        churner as (
            select c.account_id, count(e.event_id) / 60.0 / s.seats as rate
            from churners c join seats s using (account_id)
            left join usage_events e on e.account_id = c.account_id
                and e.event_at::date between c.churn_date - 60 and c.churn_date - 1
            where c.churn_date - DATE '{START}' >= 60
            group by c.account_id, s.seats
        ),
        retained as (
            select a.account_id, count(e.event_id) / 60.0 / s.seats as rate
            from accounts a join seats s using (account_id)
            left join usage_events e on e.account_id = a.account_id
                and e.event_at::date > DATE '{END}' - 60
            where a.account_id not in (select account_id from outcomes where outcome_type <> 'renewal')
              and a.created_at < DATE '{START}'
            group by a.account_id, s.seats
        )
        select (select median(rate) from churner), (select median(rate) from retained)
        """
    ).fetchone()
    assert churner_rate < 0.8 * retained_rate, (churner_rate, retained_rate)


def test_churners_are_unhappy_and_pay_late(con):
    nps = dict(
        con.execute(
            "select account_id in (select account_id from churners), avg(score) from survey_responses "
            "where survey_type = 'nps' and score is not null group by 1"
        ).fetchall()
    )
    assert nps[True] < nps[False] - 0.5, nps
    late = dict(
        con.execute(
            f"""
            select account_id in (select account_id from churners),
                avg(case when status = 'failed' or paid_at > due_date
                         or (paid_at is null and status = 'open' and due_date < DATE '{END}')
                    then 1.0 else 0.0 end)
            from invoices group by 1
            """
        ).fetchall()
    )
    assert late[True] > 1.5 * late[False], late
    ratings = dict(
        con.execute(
            "select n.account_id in (select account_id from churners), avg(rating) "
            "from account_notes n left join churners c using (account_id) "
            "where c.churn_date is null or n.noted_at::date >= c.churn_date - 90 group by 1"
        ).fetchall()
    )
    assert ratings[True] < ratings[False] - 0.5, ratings
    urgent = dict(
        con.execute(
            "select account_id in (select account_id from churners), "
            "avg(case when lower(priority) in ('high', 'urgent') then 1.0 else 0.0 end) "
            "from support_tickets group by 1"
        ).fetchall()
    )
    assert urgent[True] > urgent[False], urgent


def test_custom_attributes_and_metric_carry_the_documented_signal(demo, con):
    root, _ = demo
    # every declared source writes its _features.yml
    for source in DEMO_DECLARATIONS:
        assert (root / source / "_features.yml").is_file(), source
    by_channel = dict(
        con.execute(
            "select acquisition_channel, avg(case when account_id in (select account_id from churners) "
            "then 1.0 else 0.0 end) from accounts group by 1"
        ).fetchall()
    )
    assert set(by_channel) == {"inbound", "outbound", "partner", "self_serve"}
    others = [v for k, v in by_channel.items() if k != "self_serve"]
    assert by_channel["self_serve"] > 2 * sum(others) / len(others), by_channel
    by_renewal = dict(
        con.execute(
            "select auto_renew, avg(case when account_id in (select account_id from churners) "
            "then 1.0 else 0.0 end) from subscriptions group by 1"
        ).fetchall()
    )
    assert by_renewal[False] > 2 * by_renewal[True], by_renewal
    # storage_gb in the last 30 days before churn vs 120-180 days before: it falls
    ratio = _one(
        con,
        """
        with m as (
            select c.account_id, m.value, c.churn_date - m.measured_at::date as before
            from account_metrics m join churners c using (account_id)
        ), per_account as (
            select account_id,
                avg(case when before between 1 and 30 then value end)
                    / avg(case when before between 120 and 180 then value end) as ratio
            from m group by 1
        )
        select median(ratio) from per_account where ratio is not null
        """,
    )
    assert ratio < 0.8, ratio
    assert _one(con, "select count(distinct metric) from account_metrics") == 1


def test_surveys_have_unanswered_invitations(con):
    rate = _one(con, "select avg(case when responded_at is null then 0.0 else 1.0 end) from survey_responses")
    assert 0.3 < rate < 0.7
    assert (
        _one(con, "select count(*) from survey_responses where responded_at is null and score is not null")
        == 0
    )


def test_flaws_are_planted_as_documented(demo, con):
    _, summary = demo
    flaws = summary["flaws"]
    n_usage = _one(con, "select count(*) from usage_events")
    dup_usage = n_usage - _one(con, "select count(distinct event_id) from usage_events")
    assert dup_usage == flaws["usage_duplicates"] > 0
    assert dup_usage / n_usage == pytest.approx(FLAW_RATES["usage_duplicate"], rel=0.5)
    dup_tickets = _one(con, "select count(*) - count(distinct ticket_id) from support_tickets")
    assert dup_tickets == flaws["ticket_duplicates"]
    # Duplicates are exact copies.
    assert _one(con, "select count(*) from (select distinct * from usage_events)") == n_usage - dup_usage
    late = _one(
        con, "select count(distinct event_id) from usage_events where received_at > event_at + interval 1 day"
    )
    assert late == flaws["usage_late_arrivals"]
    assert late / n_usage == pytest.approx(FLAW_RATES["usage_late"], rel=0.5)
    # Contract violations the loader must quarantine: present, and rare.
    null_acc = _one(con, "select count(distinct event_id) from usage_events where account_id is null")
    assert null_acc == flaws["usage_null_account_id"] > 0
    unknown = _one(
        con,
        "select count(distinct event_id) from usage_events where account_id not in "
        "(select account_id from accounts)",
    )
    assert unknown == flaws["usage_unknown_account_id"] > 0
    assert null_acc + unknown < 0.002 * n_usage
    bad_ts = _one(
        con,
        "select count(distinct ticket_id) from support_tickets where try_cast(opened_at as timestamp) is null",
    )
    assert bad_ts == flaws["ticket_bad_opened_at"] >= 3
    assert _one(con, "select count(distinct ticket_id) from support_tickets where priority = 'P1'") >= 3
    assert (
        _one(
            con, "select count(*) from support_tickets where priority <> lower(priority) and priority <> 'P1'"
        )
        > 0
    )
    bad_amount = _one(con, "select count(*) from invoices where try_cast(amount as double) is null")
    assert bad_amount == flaws["invoice_bad_amount"] >= 3
    # Personal data in free text, about 1% of texts.
    assert flaws["pii_texts"] > 0
    pii = _one(
        con,
        "select count(*) from (select body as t from support_tickets union all select verbatim from "
        "survey_responses union all select note_text from account_notes union all select mention_text "
        "from social_mentions) where regexp_matches(t, '[a-z]+\\.[a-z]+@[a-z0-9.]+|\\+1 555 01[0-9]{2}')",
    )
    assert pii >= flaws["pii_texts"] - flaws["ticket_duplicates"]
    # Nulls in optional columns.
    assert (
        flaws["optional_nulls"]["usage_events.quantity"]
        == _one(con, "select count(*) from usage_events where quantity is null")
        > 0
    )
    # Primary keys are unique apart from the planted duplicates.
    for source in (
        "accounts",
        "subscriptions",
        "survey_responses",
        "invoices",
        "account_notes",
        "social_mentions",
        "outcomes",
        "overrides",
    ):
        key = CONTRACTS[source].primary_key
        assert _one(con, f"select count(*) - count(distinct {key}) from {source}") == 0, source


def test_overrides_cover_active_and_expired(con):
    rows = con.execute(
        "select action, grade, reason, author, created_at, expires_at from overrides"
    ).fetchall()
    assert 3 <= len(rows) <= 6
    assert all(r[2] and r[3] for r in rows)
    end = dt.datetime.combine(END, dt.time())
    assert any(a == "set_grade" and (exp is None or exp > end) for a, _, _, _, _, exp in rows)
    assert any(a == "adjust_score" for a, *_ in rows)
    assert any(exp is not None and exp < end for *_, exp in rows)


def test_without_an_end_date_the_data_ends_today_as_the_clock_says(tmp_path, monkeypatch):
    """`healthscore demo-data` / `make run` end the data on clock.today(): HEALTHSCORE_TODAY moves it."""
    monkeypatch.setenv("HEALTHSCORE_TODAY", "2027-01-15")
    summary = generate_demo_data(tmp_path, accounts=10, days=30, seed=1)
    assert summary["window"] == {"start": "2026-12-17", "end": "2027-01-15", "days": 30}
    with duckdb.connect() as c:
        newest = c.execute(
            f"select max(event_at) from '{tmp_path}/usage_events/demo_usage_events.parquet'"
        ).fetchone()[0]
    assert newest.date() <= dt.date(2027, 1, 15)
