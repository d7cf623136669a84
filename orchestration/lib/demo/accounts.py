"""Accounts, subscriptions, account days, invoices and CSM overrides of the demo world."""

from __future__ import annotations

import datetime as dt

import duckdb

from orchestration.lib.demo.params import (
    ACQUISITION_CHANNELS,
    AUTO_RENEW_SHARE,
    CHANNEL_SHARES,
    CHURN_REASONS,
    COUNTRIES,
    CURRENCY_BY_COUNTRY,
    DIP_SHARE,
    DOWNGRADE_REASONS,
    EXPANSION_REASONS,
    FATE_RATES,
    FLAW_RATES,
    INDUSTRIES,
    MIN_VIOLATIONS,
    NAME_MIDDLES,
    NAME_PREFIXES,
    NAME_SUFFIXES,
    NEW_ACCOUNT_SHARE,
    OWNERS,
    REGIONS,
    SILENT_CHURN_SHARE,
    SUBSIDIARY_SHARE,
    TRICKLE_SHARE,
    USAGE_ACTIVITY_BASE,
)
from orchestration.lib.demo.sql import _optnull, _pick, _risk_text, _risk_usage, _Sql
from orchestration.lib.engines.dialect import quote_literal


# --------------------------------------------------------------------------------------------
# accounts
# --------------------------------------------------------------------------------------------
def _build_accounts(con: duckdb.DuckDBPyConnection, r: _Sql, N: int, D: int, S: str) -> None:
    c, e, dg, s = (FATE_RATES[k] for k in ("churn", "expand", "downgrade", "silent"))
    new_share_of_renewers = NEW_ACCOUNT_SHARE / (1 - c - e - dg - s)
    currency = (
        "case country "
        + " ".join(f"when {quote_literal(k)} then {quote_literal(v)}" for k, v in CURRENCY_BY_COUNTRY.items())
        + " else 'USD' end"
    )
    con.execute(
        f"""
        create table acct0 as
        with b as (
            select i as a,
                {r.u("fate", "i")} as uf,
                least(5000, greatest(3, round(exp(ln(15) + 1.5 * {r.n("seats", "seats2", "i")}))))::BIGINT
                    as seats
            from range(1, {N} + 1) t(i)
        ), f as (
            select *,
                case when uf < {c} then 'churn' when uf < {c + e} then 'expand'
                     when uf < {c + e + dg} then 'downgrade' when uf < {c + e + dg + s} then 'silent'
                     else 'renew' end as fate,
                case when seats < 30 then 'SMB' when seats < 200 then 'Mid-Market' else 'Enterprise' end
                    as segment
            from b
        )
        select *,
            fate = 'renew' and {r.u("created", "a")} < {new_share_of_renewers} as is_new,
            {_pick(INDUSTRIES, r.u("industry", "a"))} as industry0,
            {_pick(COUNTRIES, r.u("country", "a"))} as country,
            {_pick(OWNERS, r.u("owner", "a"))} as owner0,
            {_pick(NAME_PREFIXES, r.u("name1", "a"))} as prefix,
            {_pick(NAME_PREFIXES, r.u("name1", "a"))} || ' ' || {_pick(NAME_MIDDLES, r.u("name2", "a"))}
                || ' ' || {_pick(NAME_SUFFIXES, r.u("name3", "a"))} as name0,
            segment <> 'Enterprise' and {r.u("sub", "a")} < {SUBSIDIARY_SHARE} as is_sub
        from f
        """
    )
    # Created day index relative to the window start (negative: before the window).
    # Churn / event days are day indexes inside the window.
    third = D // 3
    con.execute(
        f"""
        create table acct1 as
        with ent as (
            select a, name0, owner0, row_number() over (order by a) as rn, count(*) over () as cnt
            from acct0 where segment = 'Enterprise'
        ), base as (
            select x.*,
                p.a as parent_a, p.name0 as parent_name, p.owner0 as parent_owner,
                case when x.is_new then floor({r.u("created2", "x.a")} * {int(D * 0.85)})::INT
                     else -(30 + floor(pow({r.u("created2", "x.a")}, 1.3) * 1800))::INT end as cd
            from acct0 x
            left join ent p
              on x.is_sub and p.rn = 1 + least(floor({r.u("parent", "x.a")} * p.cnt)::BIGINT, p.cnt - 1)
        )
        select *,
            case when fate = 'churn' then
                    case when {r.u("churn", "a")} < 0.85
                         then {third} + floor({r.u("churn2", "a")} * ({D} - {third} - 1))::INT
                         else least({third}, 30) + floor({r.u("churn2", "a")} * greatest(1, {third} - 30))::INT
                    end
                 when fate = 'silent' and {r.u("churn", "a")} < {SILENT_CHURN_SHARE}
                    then floor({D} * 0.75)::INT + floor({r.u("churn2", "a")} * ({D} * 0.25 - 1))::INT
            end as churn_d,
            60 + floor({r.u("decl", "a")} * 61)::INT as decl,
            0.7 + 0.3 * {r.u("strength", "a")} as strength,
            case when fate in ('expand', 'downgrade')
                 then floor({D} / 4 + {r.u("event", "a")} * ({D} * 0.75 - 14))::INT end as event_d,
            case when fate = 'expand' then 1.3 + 1.2 * {r.u("ratio", "a")}
                 when fate = 'downgrade' then 0.5 + 0.3 * {r.u("ratio", "a")} else 1.0 end as ratio,
            case when fate = 'renew' and not is_new and {r.u("dip", "a")} < {DIP_SHARE}
                 then floor({r.u("dip2", "a")} * ({D} - 45))::INT end as dip_s,
            30 + floor({r.u("dip3", "a")} * 16)::INT as dip_len,
            0.4 + 0.2 * {r.u("dip3", "a")} as dip_depth,
            fate = 'churn' and {r.u("trickle", "a")} < {TRICKLE_SHARE} as trickle,
            7 + floor({r.u("trickle2", "a")} * 15)::INT as trickle_len,
            0.3 * (2 * {r.u("slope", "a")} - 1) as slope,
            greatest(1, round(seats * (0.25 + 0.5 * {r.u("adopt", "a")})))::BIGINT as n_users,
            {USAGE_ACTIVITY_BASE} * exp(0.45 * {r.n("act", "noise2", "a")} - 0.10) as act_rate,
            case when segment = 'Enterprise' then 10 + 20 * {r.u("disc", "a")}
                 when segment = 'Mid-Market' then 15 * {r.u("disc", "a")}
                 when {r.u("disc", "a")} < 0.7 then 0 else 5 + 5 * {r.u("disc", "a")} end as discount0,
            case when segment = 'Enterprise' then 'Enterprise'
                 when segment = 'Mid-Market' then 'Business'
                 when {r.u("plan", "a")} < 0.5 then 'Starter' else 'Team' end as plan0
        from base
        """
    )
    con.execute(
        f"""
        create table acct as
        select *,
            'ACC-' || lpad(a::VARCHAR, 6, '0') as account_id,
            coalesce(parent_name || ' ' || {_pick(REGIONS, r.u("region", "a"))}, name0) as account_name,
            coalesce(parent_owner, owner0) as owner,
            {currency} as currency,
            regexp_replace(lower(prefix), '[^a-z0-9]', '', 'g') || '.example.com' as domain,
            ({S} + cd)::TIMESTAMP + to_seconds(floor(8 * 3600 + {r.u("newday", "a")} * 36000)::BIGINT)
                as created_at,
            case plan0 when 'Starter' then 15 when 'Team' then 25 when 'Business' then 40 else 60 end
                as list_price
        from acct1
        """
    )
    churning = "(fate = 'silent' or fate = 'churn')"
    channel = " ".join(
        f"when {r.u('channel', 'a')} < {sum(CHANNEL_SHARES['churning'][: i + 1])} then {quote_literal(c)}"
        for i, c in enumerate(ACQUISITION_CHANNELS[:-1])
    )
    channel_other = " ".join(
        f"when {r.u('channel', 'a')} < {sum(CHANNEL_SHARES['other'][: i + 1])} then {quote_literal(c)}"
        for i, c in enumerate(ACQUISITION_CHANNELS[:-1])
    )
    con.execute(
        f"""
        create table out_accounts as
        select a as __ord, account_id, account_name,
            case when {churning} then case {channel} else {quote_literal(ACQUISITION_CHANNELS[-1])} end
                 else case {channel_other} else {quote_literal(ACQUISITION_CHANNELS[-1])} end end as acquisition_channel,
            {_optnull(r, "industry0", "industry", "a")} as industry,
            segment,
            {_optnull(r, "country", "country", "a")} as country,
            owner, created_at,
            case when parent_a is not null then 'ACC-' || lpad(parent_a::VARCHAR, 6, '0') end
                as parent_account_id
        from acct
        """
    )


# --------------------------------------------------------------------------------------------
# subscriptions + outcomes
# --------------------------------------------------------------------------------------------
def _build_subscriptions(con: duckdb.DuckDBPyConnection, r: _Sql, D: int, S: str, end: dt.date) -> None:
    E = f"DATE '{end.isoformat()}'"
    # A contract series is a chain of yearly terms. Series 0 starts at account creation and ends
    # at churn, or is replaced at an expansion / downgrade by series 1 (different seats and price).
    con.execute(
        f"""
        create table series as
        select a, 0 as series, (created_at::DATE) as s_start,
            case when event_d is not null then {S} + event_d end as s_cut,
            seats as s_seats, plan0 as s_plan, discount0 as s_disc
        from acct
        union all
        select a, 1, {S} + event_d, null,
            greatest(3, round(seats * ratio))::BIGINT,
            case when fate = 'expand' then
                case plan0 when 'Starter' then 'Team' when 'Team' then 'Business' else plan0 end
            else case plan0 when 'Business' then 'Team' when 'Team' then 'Starter' else plan0 end end,
            discount0
        from acct where event_d is not null
        """
    )
    con.execute(
        f"""
        create table terms0 as
        select s.*, k.k, (s.s_start + to_years(k.k::INT))::DATE as t_start,
            ac.churn_d, ac.fate, ac.is_new, ac.cd, ac.a as aa
        from series s
        join acct ac using (a)
        cross join lateral (select unnest(range(0, 2 + (({D} - ac.cd) // 365)::INT)) as k) k
        """
    )
    con.execute(
        f"""
        create table terms as
        with t as (
            select *,
                (t_start + to_years(1))::DATE - 1 as natural_end,
                case when churn_d is not null then {S} + churn_d end as churn_date
            from terms0
            where t_start <= {E}
              and (s_cut is null or t_start < s_cut)
              and (churn_d is null or t_start <= {S} + churn_d)
        )
        select t.*,
            case when churn_date is not null and churn_date between t_start and natural_end then churn_date
                 when s_cut is not null and s_cut <= natural_end then s_cut - 1
                 else natural_end end as t_end,
            case when churn_date is not null and churn_date between t_start and natural_end then 'cancelled'
                 when s_cut is not null and s_cut <= natural_end then 'expired'
                 when natural_end < {E} then 'expired'
                 when is_new and series = 0 and k = 0 and {E} - t_start < 21 then 'trial'
                 else 'active' end as status,
            (s_seats * (case s_plan when 'Starter' then 15 when 'Team' then 25 when 'Business' then 40
                             else 60 end) * (1 - s_disc / 100) * pow(1.03, k)) as mrr0
        from t
        where natural_end >= {S}  -- overlaps the window
        """
    )
    con.execute(
        f"""
        create table out_subscriptions as
        select a * 1000 + series * 100 + k as __ord,
            'SUB-' || lpad(a::VARCHAR, 6, '0') || '-' || series || '-' || k as subscription_id,
            ac.account_id, s_plan as plan, s_seats as seats,
            round(case when status = 'trial' then 0 else mrr0 end, 2) as mrr,
            {_optnull(r, "round(case when status = 'trial' then 0 else mrr0 end * 12, 2)", "arr", "a", "series", "k")}
                as arr,
            ac.currency, t_start as start_date, t_end as end_date,
            -- the renewal date as contracted at signing, kept when the term is later cancelled or
            -- replaced: the export is loaded once and stands for earlier dates too (macros/
            -- history.sql), so a value written at churn (end_date, status) must not be the only
            -- description of the term (docs/demo-data.md, "What the exports know")
            natural_end + 1 as renewal_date,
            status,
            {_optnull(r, "round(s_disc, 1)", "disc", "a", "series", "k")} as discount_pct,
            {r.u("autorenew", "t.a")} < case when ac.fate in ('churn', 'silent') then {AUTO_RENEW_SHARE["churning"]}
                else {AUTO_RENEW_SHARE["other"]} end as auto_renew,
            t_start, t_end as t_end_, mrr0, series, k, t.a
        from terms t join acct ac using (a)
        """
    )
    # Outcomes: churn, expansion, downgrade (one each) and a renewal at every term boundary in the window.
    con.execute(
        f"""
        create table out_outcomes as
        with cur as (  -- the term in force on a day: the one of series 0 containing it
            select * from out_subscriptions
        ), o as (
            select ac.a, 1 as kind, 'churn' as outcome_type, {S} + ac.churn_d as outcome_date,
                -(select sum(c.mrr) from cur c where c.a = ac.a and c.status = 'cancelled') as mrr_delta,
                case when ac.fate = 'silent' then 'poor support experience'
                     else {_pick(CHURN_REASONS, r.u("osreason", "ac.a"))} end as reason
            from acct ac where ac.churn_d is not null
            union all
            select ac.a, 2, case when ac.fate = 'expand' then 'expansion' else 'downgrade' end,
                {S} + ac.event_d,
                (select sum(c.mrr) from cur c where c.a = ac.a and c.series = 1 and c.k = 0)
                  - (select sum(c.mrr) from cur c where c.a = ac.a and c.series = 0
                     and c.t_end_ = {S} + ac.event_d - 1),
                case when ac.fate = 'expand' then {_pick(EXPANSION_REASONS, r.u("osreason", "ac.a"))}
                     else {_pick(DOWNGRADE_REASONS, r.u("osreason", "ac.a"))} end
            from acct ac where ac.event_d is not null
            union all
            select c.a, 3 + c.series * 100 + c.k, 'renewal', c.t_start,
                c.mrr - p.mrr, 'renewed'
            from cur c join cur p on p.a = c.a and p.series = c.series and p.k = c.k - 1
            where c.k >= 1 and c.t_start >= {S}
        )
        select a * 1000 + kind as __ord,
            'OUT-' || lpad(a::VARCHAR, 6, '0') || '-' || kind as outcome_id,
            'ACC-' || lpad(a::VARCHAR, 6, '0') as account_id,
            outcome_type, outcome_date, round(mrr_delta, 2) as mrr_delta, reason
        from o
        """
    )


# --------------------------------------------------------------------------------------------
# account x day spine, usage events
# --------------------------------------------------------------------------------------------
def _build_account_days(con: duckdb.DuckDBPyConnection, r: _Sql, D: int, S: str) -> None:
    """One row per account and window day on which the account exists, with its planted risk."""
    con.execute(
        f"""
        create table days as
        select d::INT as d, ({S} + d::INT) as day,
            case isodow({S} + d::INT) when 6 then 0.15 when 7 then 0.08 when 1 then 0.95 when 5 then 0.9
                 else 1.0 end
            * case when (month({S} + d::INT) = 12 and day({S} + d::INT) >= 20)
                        or (month({S} + d::INT) = 1 and day({S} + d::INT) <= 2) then 0.45
                   when month({S} + d::INT) = 8 then 0.8
                   when month({S} + d::INT) = 7 then 0.9 else 1.0 end
            * (1 + 0.05 * sin(2 * pi() * dayofyear({S} + d::INT) / 365.0)) as day_mult,
            isodow({S} + d::INT) >= 6 as weekend
        from range(0, {D}) t(d)
        """
    )
    grow = f"""case
        when ac.fate = 'expand' then (0.75 + 0.45 * dd.d / {D})
             * (case when dd.d >= ac.event_d then 1 + 0.5 * (ac.ratio - 1) else 1 end)
        when ac.fate = 'downgrade' and dd.d >= ac.event_d then 0.75
        when ac.fate in ('renew', 'silent') then 1 + ac.slope * (dd.d::DOUBLE / {D} - 0.5)
        else 1 end
        * least(1.0, (dd.d - ac.cd + 1) / 30.0)"""
    con.execute(
        f"""
        create table ad as
        select ac.a, dd.d, dd.day, dd.day_mult, dd.weekend,
            ac.churn_d is not null and dd.d >= ac.churn_d as after_churn,
            {_risk_usage("dd.d")} as ru,
            {_risk_text("dd.d")} as rt,
            {grow} as grow
        from acct ac
        join days dd on dd.d >= ac.cd
            and (ac.churn_d is null or dd.d < ac.churn_d
                 or (ac.trickle and dd.d < ac.churn_d + ac.trickle_len))
        """
    )


# --------------------------------------------------------------------------------------------
# invoices
# --------------------------------------------------------------------------------------------
def _build_invoices(con: duckdb.DuckDBPyConnection, r: _Sql, S: str, end: dt.date) -> None:
    E = f"DATE '{end.isoformat()}'"
    con.execute(
        f"""
        create table iv0 as
        select s.a, s.series, s.k, m.m, s.subscription_id, s.account_id, s.currency, s.mrr,
            (s.start_date + to_months(m.m::INT))::DATE as issued_at
        from out_subscriptions s
        cross join lateral (select unnest(range(13)) as m) m
        where s.status <> 'trial'
          and (s.start_date + to_months(m.m::INT))::DATE <= least(s.end_date, {E})
          and (s.start_date + to_months(m.m::INT))::DATE >= {S}
          and (s.status <> 'cancelled' or (s.start_date + to_months(m.m::INT))::DATE < s.end_date)
        """
    )
    ids = ("x.a", "x.series", "x.k", "x.m")
    con.execute(
        f"""
        create table iv1 as
        select x.*, x.issued_at + 30 as due_date,
            case when {r.u("void", *ids)} < 0.003 then 'void'
                 when {r.u("paid", *ids)} < 0.02 + 0.25 * x.ru then 'failed'
                 when {r.u("paid2", *ids)} < 0.06 + 0.6 * x.ru then 'late'
                 else 'ontime' end as pay
        from (
            select x.*, {_risk_usage("(x.issued_at - " + S + ")")} as ru
            from iv0 x join acct ac using (a)
        ) x
        """
    )
    con.execute(
        f"""
        create table iv2 as
        select x.*,
            case x.pay when 'late' then x.due_date + 3 + floor(42 * {r.u("paidday", *ids)})::INT
                       when 'ontime' then x.issued_at + floor(29 * pow({r.u("paidday", *ids)}, 1.5))::INT
            end as paid_day
        from iv1 x
        """
    )
    n_i = con.execute("select count(*) from iv2").fetchone()[0]
    k_amt = max(MIN_VIOLATIONS, round(n_i * FLAW_RATES["invoice_bad_amount"]))
    con.execute(
        f"""
        create table out_invoices as
        with ranked as (
            select x.*, row_number() over (order by hash(hash({r.seed}, 921, x.subscription_id, x.m)),
                x.subscription_id, x.m) as rk
            from iv2 x
        )
        select ((a * 10 + series) * 100 + k) * 100 + m as __ord,
            'INV-' || lpad(a::VARCHAR, 6, '0') || '-' || series || '-' || k || '-' || lpad(m::VARCHAR, 2, '0')
                as invoice_id,
            account_id, subscription_id,
            case when rk <= {k_amt} then '-' else printf('%.2f', mrr) end as amount,
            currency, issued_at, due_date,
            case when paid_day <= {E} then paid_day end as paid_at,
            case when pay = 'void' then 'void' when pay = 'failed' then 'failed'
                 when paid_day <= {E} then 'paid' else 'open' end as status,
            rk <= {k_amt} as bad_amount, pay
        from ranked
        """
    )


def _build_overrides(con: duckdb.DuckDBPyConnection, r: _Sql, end: dt.date) -> None:
    E = f"DATE '{end.isoformat()}'"
    # Accounts chosen deterministically from the seed among accounts that exist all window long.
    picks = f"""
        select account_id, row_number() over (order by hash(hash({r.seed}, 931, a)), a) as rn
        from acct where churn_d is null and not is_new"""
    con.execute(
        f"""
        create table out_overrides as
        with p as ({picks}), o as (
            select * from (values
                (1, 'retention_risk', 'set_grade', null, 'red', 'Marcus Reed',
                 'Exec sponsor told us they are evaluating competitors; not yet visible in the data.',
                 -20, 40),
                (2, 'retention_risk', 'adjust_score', -10.0, null, 'Grace Liu',
                 'Known billing dispute being resolved; lower the score until it is closed.',
                 -35, null),
                (3, 'retention_risk', 'set_grade', null, 'green', 'Alice Moreau',
                 'Temporary usage drop during their migration project; expected to recover.',
                 -150, -60),
                (4, 'retention_risk', 'set_score', 85.0, null, 'David Kim',
                 'Renewal signed early for three years.',
                 -10, 355),
                (5, 'expansion_potential', 'adjust_score', 15.0, null, 'Nadia Cohen',
                 'Budget approved for a second department next quarter.',
                 -5, 90)
            ) t(n, objective, action, value, grade, author, reason, created_off, expires_off)
        )
        select o.n as __ord, 'OVR-' || lpad(o.n::VARCHAR, 4, '0') as override_id, p.account_id,
            o.objective, o.action, o.value::DOUBLE as value, o.grade, o.author, o.reason,
            ({E} + o.created_off)::TIMESTAMP + INTERVAL 10 HOUR as created_at,
            case when o.expires_off is not null then ({E} + o.expires_off)::TIMESTAMP + INTERVAL 10 HOUR end
                as expires_at
        from o join p on p.rn = o.n
        """
    )


def _build_account_metrics(con: duckdb.DuckDBPyConnection, r: _Sql, export_ts: str) -> None:
    """storage_gb, measured weekly per account (a custom metric): grows with the account and falls
    with the planted usage risk (up to -60 % at full risk), so it declines before churn."""
    con.execute(
        f"""
        create table out_account_metrics as
        select ad.a * 1000 + ad.d as __ord,
            'MET-' || lpad(ad.a::VARCHAR, 6, '0') || '-' || ad.d as measurement_id,
            ac.account_id, 'storage_gb' as metric,
            round(ac.seats * (2 + 6 * {r.u("storage", "ac.a")}) * ad.grow * (1 - 0.6 * ad.ru)
                * (0.95 + 0.1 * {r.u("storage2", "ad.a", "ad.d")}), 2) as value,
            ad.day::TIMESTAMP + INTERVAL 2 HOUR as measured_at,
            cast(null as TIMESTAMP) as received_at
        from ad join acct ac using (a)
        where (ad.d + ad.a) % 7 = 0 and not ad.after_churn
            and ad.day::TIMESTAMP + INTERVAL 2 HOUR < {export_ts}
        """
    )
