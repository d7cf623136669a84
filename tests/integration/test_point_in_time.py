"""Point-in-time features: a row for as_of_date D never changes when records dated after D arrive.

Builds the dbt project on a small fixture in a temporary DuckDB file, snapshots every
feature for D, inserts records dated after D (and a usage event that happened before D
but arrived after it), rebuilds and compares. Also checks the coverage-interval rolling
distinct counts against brute-force SQL over the same data.
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from orchestration.lib.dbt_cli import project_args
from orchestration.lib.ingest.loader import ensure_raw_schema
from orchestration.lib.settings import PROJECT_ROOT

DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"
AS_OF_START = "2026-03-01"
AS_OF_END = "2026-04-30"
D = "2026-03-31"
META = "'fixture', 'fixture.parquet', 'sha', 1, timestamp '2026-05-01 00:00:00'"
# the records added after D arrive in a later load (incremental models pick up new loads)
META_LATER = "'fixture-2', 'fixture-2.parquet', 'sha2', 1, timestamp '2026-05-02 00:00:00'"

FIXTURE_SQL = f"""
create temp table acc as
select 'A' || lpad(cast(i as varchar), 3, '0') as account_id, i,
    cast(date '2026-03-20' - cast(hash(i, 'created') % 200 as integer) as date) as created_date
from range(1, 25) as t(i);

insert into raw.accounts
select account_id, 'Company ' || i, 'saas', [' smb', 'Mid-Market', 'ENTERPRISE'][1 + cast(i % 3 as integer)],
    'US', 'owner', cast(created_date as timestamp), null, {META}
from acc;

insert into raw.subscriptions
select 'S' || i || '-' || k, account_id, 'pro', 10 + i, 100.0 * (k + 1), null, 'usd',
    cast(created_date + cast(120 * k as integer) as date),
    case when k = 0 then cast(created_date + 119 as date) end,
    cast(created_date + cast(120 * (k + 1) as integer) as date), 'active', cast(k * 5 as double), {META}
from acc, range(0, 2) as s(k);

-- 0-6 users per account, active on roughly half the days, some events arriving days late
create temp table events as
select a.account_id, a.i, u.u, d.d, cast(date '2026-04-30' - cast(d.d as integer) as date) as event_date
from acc as a, range(0, cast(a.i % 7 as integer)) as u(u), range(0, 150) as d(d)
where hash(a.i, u.u, d.d) % 100 < 45 - (case when a.i % 5 = 0 then d.d / 4 else 0 end);

insert into raw.usage_events
select 'E' || i || '-' || u || '-' || d, account_id, 'U' || u, 'feature_' || cast(hash(i, u, d) % 6 as varchar),
    cast(event_date as timestamp) + to_hours(cast(hash(i, u, d, 'h') % 20 as integer)), 1.0,
    case when hash(i, u, d, 'late') % 10 = 0
        then cast(event_date as timestamp) + to_days(cast(1 + hash(i, u, d) % 40 as integer)) end,
    {META}
from events;

insert into raw.support_tickets
select 'T' || i || '-' || k, account_id, opened_at,
    case when k % 4 <> 0 then opened_at + to_hours(cast(1 + hash(i, k) % 500 as integer)) end,
    ['low', 'normal', 'HIGH', 'urgent'][1 + cast(hash(i, k, 'p') % 4 as integer)], 'closed',
    case when k % 2 = 0 then 1 + cast(hash(i, k, 'c') % 5 as integer) end, 's', 'b', {META}
from (
    select *, cast(date '2026-04-30' - cast(hash(i, k) % 150 as integer) as timestamp) + to_hours(9) as opened_at
    from acc, range(0, 6) as t(k)
);

insert into raw.survey_responses
select 'R' || i || '-' || k, account_id, 'p', case when k % 3 = 0 then 'csat' else 'nps' end, sent_at,
    case when hash(i, k, 'r') % 3 <> 0 then sent_at + to_days(cast(hash(i, k) % 20 as integer)) end,
    case when hash(i, k, 'r') % 3 <> 0 then cast(hash(i, k, 's') % 11 as integer) end, 'v', {META}
from (
    select *, cast(date '2026-04-30' - cast(hash(i, k, 'sent') % 400 as integer) as timestamp) as sent_at
    from acc, range(0, 5) as t(k)
);

insert into raw.invoices
select 'I' || i || '-' || m, account_id, null, 100.0, 'USD', issued, cast(issued + 30 as date),
    case when hash(i, m) % 4 = 0 then null else cast(issued + cast(hash(i, m, 'p') % 50 as integer) as date) end,
    case when hash(i, m) % 5 = 0 then 'failed' else 'paid' end, {META}
from (select *, cast(date '2026-04-30' - cast(30 * m as integer) as date) as issued from acc, range(0, 8) as t(m));

insert into raw.account_notes
select 'N' || i || '-' || k, account_id, 'am', 1 + cast(hash(i, k) % 5 as integer), 'text',
    cast(date '2026-04-30' - cast(hash(i, k, 'n') % 200 as integer) as timestamp), {META}
from acc, range(0, 4) as t(k);

-- A custom metric (docs/features.md): the quantity of usage feature_2, with two windows.
insert into raw._feature_declarations values
    ('usage_events', 'metric', 'feature_two', 'numeric', 'Quantity of feature_2', 'feature_2', '7,30',
     'sum,avg,latest,change', 'fixture');

insert into raw.social_mentions
select 'M' || i, account_id, 'twitter', 'x', timestamp '2026-02-10 10:00:00', {META} from acc where i % 4 = 0;

insert into raw.outcomes
select 'O' || i || '-' || k, account_id, ['churn', 'renewal', 'expansion'][1 + cast(hash(i, k) % 3 as integer)],
    cast(date '2026-04-30' - cast(hash(i, k, 'd') % 120 as integer) as date), -10.0, 'r', {META}
from acc, range(0, 2) as t(k) where i % 3 = 0;

-- A hand-checked account: user a active on 03-01 and 03-20, user b on 03-10 (arrived
-- 03-15), user c on 01-15.
insert into raw.accounts values
    ('H01', 'Hand Checked', 'saas', 'SMB', 'US', 'owner', timestamp '2025-01-01 00:00:00', null, {META});
insert into raw.usage_events values
    ('H-a1', 'H01', 'a', 'f1', timestamp '2026-03-01 12:00:00', 1.0, null, {META}),
    ('H-a2', 'H01', 'a', 'f1', timestamp '2026-03-20 12:00:00', 1.0, null, {META}),
    ('H-b1', 'H01', 'b', 'f2', timestamp '2026-03-10 12:00:00', 1.0, timestamp '2026-03-15 08:00:00', {META}),
    ('H-c1', 'H01', 'c', 'f3', timestamp '2026-01-15 12:00:00', 1.0, null, {META});

-- An account with one usage event (03-01), to watch the late-arriving event below.
insert into raw.accounts values
    ('H02', 'Late Arrival', 'saas', 'SMB', 'US', 'owner', timestamp '2025-01-01 00:00:00', null, {META});
insert into raw.usage_events values
    ('H-x1', 'H02', 'x', 'f1', timestamp '2026-03-01 12:00:00', 1.0, null, {META});
"""

# Records dated after D, one or more per source, plus a usage event that happened on D
# but only reached the collector afterwards.
AFTER_D_SQL = f"""
insert into raw.usage_events values
    ('late-1', 'H02', 'U-late', 'feature_late', timestamp '{D} 10:00:00', 1.0, timestamp '2026-04-03 08:00:00', {META_LATER}),
    ('after-1', 'A002', 'U-new', 'feature_new', timestamp '2026-04-01 09:00:00', 1.0, null, {META_LATER}),
    ('after-2', 'A003', 'U0', 'feature_0', timestamp '2026-04-02 09:00:00', 1.0, timestamp '2026-04-02 09:01:00', {META_LATER});
insert into raw.support_tickets values
    ('T-after', 'A001', timestamp '2026-04-01 00:00:01', null, 'urgent', 'open', null, 's', 'b', {META_LATER});
insert into raw.survey_responses values
    ('R-after', 'A002', 'p', 'nps', timestamp '2026-04-01 08:00:00', timestamp '2026-04-01 09:00:00', 0, 'v', {META_LATER});
insert into raw.invoices values
    ('I-after', 'A004', null, 999.0, 'USD', date '2026-04-01', date '2026-04-02', null, 'failed', {META_LATER});
insert into raw.account_notes values
    ('N-after', 'A005', 'am', 1, 'bad', timestamp '2026-04-01 00:00:00', {META_LATER});
insert into raw.outcomes values
    ('O-after', 'A006', 'churn', date '2026-04-01', -100.0, 'gone', {META_LATER});
insert into raw.subscriptions values
    ('S-after', 'A007', 'pro', 50, 5000.0, null, 'usd', date '2026-04-01', null, date '2027-04-01', 'active', 50.0, {META_LATER});
insert into raw.social_mentions values ('M-after', 'A008', 'g2', 'x', timestamp '2026-04-01 00:00:00', {META_LATER});
"""


def _dbt(command: str, tmp_path: Path, *extra: str) -> None:
    from dbt.cli.main import dbtRunner

    args = [
        command,
        *project_args(DBT_PROJECT_DIR, tmp_path / "target", tmp_path / "logs"),
        "--vars", json.dumps({"as_of_start": AS_OF_START, "as_of_end": AS_OF_END}),
        "--quiet",
        "--threads", "4",
        *extra,
    ]  # fmt: skip
    result = dbtRunner().invoke(args)
    _release_dbt_connection()
    assert result.success, f"dbt {command} failed: {result.exception or result.result}"


def _release_dbt_connection() -> None:
    # dbt-duckdb keeps its DuckDB connection open after a build; the pipeline's own release
    # lets this process open the warehouse file itself between dbt invocations.
    from orchestration.defs.transform.inprocess import release_duckdb

    release_duckdb()


def _rows(warehouse: Path, sql: str) -> list[tuple]:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


@pytest.fixture(scope="module")
def built_warehouse(tmp_path_factory: pytest.TempPathFactory) -> dict:
    tmp_path = tmp_path_factory.mktemp("pit")
    warehouse = tmp_path / "warehouse.duckdb"
    con = duckdb.connect(str(warehouse))
    try:
        ensure_raw_schema(con)
        con.execute(FIXTURE_SQL)
    finally:
        con.close()
    patch = pytest.MonkeyPatch()
    patch.setenv("HEALTHSCORE_WAREHOUSE", str(warehouse))
    try:
        _dbt("build", tmp_path)
        # every feature (the load watermark of the build is bookkeeping, not a feature)
        features_sql = (
            "select * exclude (inputs_loaded_through) from marts.fct_account_features_daily "
            f"where as_of_date = date '{D}' order by account_id"
        )
        before = _rows(warehouse, features_sql)
        later_sql = (
            "select * exclude (inputs_loaded_through) from marts.fct_account_features_daily "
            "where as_of_date = date '2026-04-05' order by account_id"
        )
        later_before = _rows(warehouse, later_sql)
        con = duckdb.connect(str(warehouse))
        try:
            con.execute(AFTER_D_SQL)
        finally:
            con.close()
        _dbt("run", tmp_path, "--select", "+fct_account_features_daily")
        yield {
            "warehouse": warehouse,
            "before": before,
            "after": _rows(warehouse, features_sql),
            "later_before": later_before,
            "later_after": _rows(warehouse, later_sql),
        }
    finally:
        patch.undo()


def test_features_as_of_d_ignore_records_known_after_d(built_warehouse: dict) -> None:
    before, after = built_warehouse["before"], built_warehouse["after"]
    assert len(before) >= 20
    assert after == before


def test_records_after_d_do_reach_later_dates(built_warehouse: dict) -> None:
    # Otherwise the test above would pass on a pipeline that ignores the new rows altogether.
    assert built_warehouse["later_after"] != built_warehouse["later_before"]


def test_late_usage_event_counts_from_its_arrival(built_warehouse: dict) -> None:
    rows = _rows(
        built_warehouse["warehouse"],
        "select as_of_date, days_since_last_activity from marts.fct_account_features_daily "
        "where account_id = 'H02' and as_of_date between date '2026-03-31' and date '2026-04-03' "
        "order by as_of_date",
    )
    # the late event happened on D but is known only from 04-03: until then the last
    # activity is 03-01, from then on it is D
    assert [row[1] for row in rows] == [30, 31, 32, 3]


def test_rolling_distinct_counts_match_brute_force(built_warehouse: dict) -> None:
    brute_force = """
        with events as (
            select
                account_id, user_id, feature,
                cast(event_at as date) as event_date,
                cast(coalesce(received_at, event_at) as date) as known_date
            from staging.stg_product__usage_events
        )
        select
            f.account_id,
            f.as_of_date,
            count(distinct case when e.event_date > f.as_of_date - 30 then e.user_id end),
            count(distinct case when e.event_date <= f.as_of_date - 30 then e.user_id end),
            count(distinct case when e.event_date > f.as_of_date - 30 then e.feature end),
            count(case when e.event_date > f.as_of_date - 30 then 1 end)
        from marts.fct_account_features_daily as f
        left join events as e
            on e.account_id = f.account_id
            and e.event_date between f.as_of_date - 59 and f.as_of_date
            and e.known_date <= f.as_of_date
        group by f.account_id, f.as_of_date
        order by f.account_id, f.as_of_date
    """
    model = """
        select account_id, as_of_date, active_users_30d, active_users_prev_30d, features_used_30d, events_30d
        from marts.fct_account_features_daily order by account_id, as_of_date
    """
    expected = _rows(built_warehouse["warehouse"], brute_force)
    actual = _rows(built_warehouse["warehouse"], model)
    assert len(actual) > 1000
    assert sum(row[2] for row in actual) > 0
    assert actual == expected


def test_usage_metric_sums_match_brute_force(built_warehouse: dict) -> None:
    brute_force = """
        with events as (
            select
                account_id, quantity,
                cast(event_at as date) as event_date,
                cast(coalesce(received_at, event_at) as date) as known_date
            from staging.stg_product__usage_events
            where feature = 'feature_2'
        )
        select
            f.account_id,
            f.as_of_date,
            -- null until the first value is known, then the sums of the windows
            case when count(e.account_id) > 0 then
                coalesce(sum(case when e.event_date > f.as_of_date - 7 then e.quantity end), 0) end,
            case when count(e.account_id) > 0 then
                coalesce(sum(case when e.event_date > f.as_of_date - 30 then e.quantity end), 0) end
        from marts.fct_account_features_daily as f
        left join events as e
            on e.account_id = f.account_id
            and e.event_date <= f.as_of_date
            and e.known_date <= f.as_of_date
        group by f.account_id, f.as_of_date
        order by f.account_id, f.as_of_date
    """
    model = """
        select account_id, as_of_date, metric_feature_two__sum_7d, metric_feature_two__sum_30d
        from marts.fct_account_features_daily order by account_id, as_of_date
    """
    expected = _rows(built_warehouse["warehouse"], brute_force)
    actual = _rows(built_warehouse["warehouse"], model)
    assert sum(row[3] or 0 for row in actual) > 100
    assert actual == expected


def test_hand_checked_active_users(built_warehouse: dict) -> None:
    rows = _rows(
        built_warehouse["warehouse"],
        "select as_of_date, active_users_30d, active_users_prev_30d, features_used_30d "
        "from marts.fct_account_features_daily where account_id = 'H01' and as_of_date in "
        "(date '2026-03-12', date '2026-03-15', date '2026-03-31', date '2026-04-09', date '2026-04-19') "
        "order by as_of_date",
    )
    counts = [row[1:] for row in rows]
    assert counts == [
        (1, 1, 1),  # 03-12: a (03-01); b happened 03-10 but is not known yet; previous 01-12..02-10: c
        (2, 1, 2),  # 03-15: a, b; previous 01-15..02-13: c
        (2, 1, 2),  # 03-31: a (03-20), b (03-10); previous window 01-31..03-01 has a
        (1, 2, 1),  # 04-09: a (03-20); previous window 02-09..03-10 has a and b
        (0, 2, 0),  # 04-19: window 03-21..04-19 is empty; previous 02-19..03-20 has a and b
    ]
