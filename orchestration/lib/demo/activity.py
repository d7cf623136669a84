"""What the accounts do: product usage, support tickets, surveys, CSM notes and social mentions."""

from __future__ import annotations

import duckdb

from orchestration.lib.demo.params import (
    CHANNELS,
    FEATURES,
    FLAW_RATES,
    MIN_VIOLATIONS,
    NOTE_FOLLOWUPS,
    NOTE_TEXTS,
    OWNERS,
    SOCIAL_TEXTS,
    SURVEY_TEXTS,
    TICKET_CLOSERS,
    TICKET_MIDDLES,
    TICKET_OPENERS,
    TICKET_SUBJECTS,
)
from orchestration.lib.demo.sql import (
    _bits,
    _by_sentiment,
    _optnull,
    _pick,
    _pii,
    _risk_text,
    _risk_usage,
    _sentiment,
    _Sql,
)


def _build_usage(con: duckdb.DuckDBPyConnection, r: _Sql, D: int, export_ts: str) -> None:
    """Usage rows: account-day -> active users (one row per user-day) -> 1-4 feature rows each.

    The big table is built in one pass from `uu`, which is stored sorted by (account, day, slot):
    a scan of one table through unnest and projections keeps that order (DuckDB's insertion-order
    preservation), so the file needs no ORDER BY over ten million rows and stays deterministic.
    """
    lam = (
        "ac.n_users * ac.act_rate * x.day_mult * x.grow * (1 - 0.8 * x.ru)"
        f" * exp(0.25 * {r.n('noise', 'noise2', 'x.a', 'x.d')} - 0.03)"
        " * case when x.after_churn then 0.15 else 1 end"
    )
    con.execute(
        f"""
        create table ud as  -- active users per account-day
        select x.a, x.d, x.day, x.ru, x.n_users,
            least(x.n_users, greatest(0, floor(x.lam + 0.8 * sqrt(x.lam) * {r.n("nusers", "nusers2", "x.a", "x.d")}
                + {r.u("act", "x.a", "x.d")})))::INT as n_active,
            floor(x.n_users * pow({r.u("user", "x.a", "x.d")}, 1.5))::INT as u0
        from (select x.*, ac.n_users, {lam} as lam from ad x join acct ac using (a)) x
        """
    )
    hs = r.h("hour", "a", "d", "slot")
    nf = r.h("nfeat", "a", "d", "slot")
    con.execute(
        f"""
        create table uu as  -- one row per active user-day, with its number of feature rows
        select a, d, day, ru, slot, account_id,
            -- user ids are opaque product-analytics ids: 'U' || account number * 10000 + user number
            'U' || (a * 10000 + (u0 + slot * 7919) % n_users) as user_id,
            1 + ({_bits(nf, 0)} < 0.35)::INT + ({_bits(nf, 0)} < 0.12)::INT + ({_bits(nf, 0)} < 0.04)::INT as nf,
            -- seconds after midnight: office hours mostly, 10% at any time
            floor(case when {_bits(hs, 0)} < 0.9 then 25200 + 39600 * ({_bits(hs, 0)} / 0.9 + {_bits(hs, 1)}) / 2
                       else 86399 * {_bits(hs, 1)} end)::INT as tod
        from (select a, d, day, ru, n_users, u0, unnest(range(n_active)) as slot from ud where n_active > 0)
        join (select a, account_id from acct) using (a)
        order by a, d, slot
        """
    )
    expected = con.execute("select coalesce(sum(nf), 0) from uu").fetchone()[0]
    # Rare violations: at least ~10 expected rows of each kind, whatever the size.
    p_null = max(FLAW_RATES["usage_null_account"], 10 / max(expected, 1))
    p_unk = max(FLAW_RATES["usage_unknown_account"], 10 / max(expected, 1))
    h1 = r.h("feat", "a", "d", "slot", "f")
    h2 = r.h("late", "a", "d", "slot", "f")
    h3 = r.h("dupu", "a", "d", "slot", "f")
    qty_normal = f"(sqrt(-2 * ln(1 - {_bits('h1', 1)})) * cos(2 * pi() * {_bits('h1', 2)}))"
    con.execute(
        f"""
        create table usage_base as
        select * from (
            select
                -- bits: account | day (14) | user slot (13) | feature row (2); short strings are cheap
                'e' || to_hex((a << 29) | (d << 15) | (slot << 2) | f) as event_id,
                case when {_bits("h3", 2)} < {p_null} then null
                     when {_bits("h3", 2)} < {p_null + p_unk} then 'ACC-9' || lpad((a % 99999)::VARCHAR, 5, '0')
                     else account_id end as account_id,
                user_id,
                {_pick(FEATURES, _bits("h1", 0))} as feature,
                event_at,
                case when {_bits("h2", 2)} < {FLAW_RATES["optional_null"]} then null
                     else 1 + floor(exp(1.1 * {qty_normal} + 0.6) * (1 - 0.5 * ru)) end::DOUBLE as quantity,
                case when {_bits("h3", 0)} < {FLAW_RATES["optional_null"]} then null else received_at end
                    as received_at,
                a, d, is_late,
                case when {_bits("h3", 2)} < {p_null} then 'null'
                     when {_bits("h3", 2)} < {p_null + p_unk} then 'unknown' end as flaw,
                ({_bits("h3", 1)} < {FLAW_RATES["usage_duplicate"]})::INT as dup_src
            from (
                select *, event_at + case when is_late
                        then to_seconds(floor(86400 * (1 + 4 * {_bits("h2", 1)}))::BIGINT)
                        else to_seconds(floor(2 + 300 * {_bits("h2", 1)})::BIGINT) end as received_at
                from (
                    select *, day::TIMESTAMP + to_seconds(least(tod + 600 * f, 86399)::BIGINT) as event_at,
                        {_bits("h2", 0)} < {FLAW_RATES["usage_late"]} as is_late
                    from (
                        select *, {h1} as h1, {h2} as h2, {h3} as h3
                        from (select *, unnest(range(nf)) as f from uu)
                    )
                )
            )
            -- not yet arrived at export time: not in the file
            where received_at < {export_ts}
        )
        """
    )
    con.execute("drop table ud")
    con.execute("drop table uu")
    # Exact duplicates (same event_id, same values), re-sent at the end of the export. UNION ALL of
    # two single-table scans keeps the order, so no sort is needed.
    con.execute(
        """
        create view out_usage_events as
        select *, false as dup from usage_base
        union all
        select *, true as dup from usage_base where dup_src = 1
        """
    )


# --------------------------------------------------------------------------------------------
# support tickets
# --------------------------------------------------------------------------------------------
def _build_tickets(con: duckdb.DuckDBPyConnection, r: _Sql, export_ts: str) -> None:
    ids = ("x.a", "x.d", "x.slot")
    sent = f"{_sentiment(r.u('ticksent', *ids), 'x.rt')}"
    con.execute(
        f"""
        create table tk0 as
        select x.*, {sent} as sent
        from (
            select x.a, x.d, x.day, x.rt, x.ru, unnest(range(n)) as slot
            from (
                select x.*, floor(
                    0.0055 * sqrt(ac.n_users) * (1 + 2.5 * x.ru + case when ac.fate = 'silent' then 1 else 0 end)
                    * case when x.weekend then 0.3 else 1 end
                    * case when x.after_churn then 0.2 else 1 end
                    + {r.u("tick", "x.a", "x.d")})::INT as n
                from ad x join acct ac using (a)
            ) x where n > 0
        ) x
        """
    )
    pri = f"""case
        when {r.u("tickpri", *ids)} < 0.05 + 0.35 * x.rt then 'urgent'
        when {r.u("tickpri", *ids)} < 0.20 + 0.45 * x.rt then 'high'
        when {r.u("tickpri", *ids)} < 0.65 + 0.15 * x.rt then 'normal'
        else 'low' end"""
    con.execute(
        f"""
        create table tk1 as
        select x.*, ac.account_id, {pri} as priority0,
            x.day::TIMESTAMP + to_seconds(floor(6 * 3600 + 14 * 3600 * {r.u("tickhour", *ids)})::BIGINT)
                as opened_ts,
            {_by_sentiment("x.sent", TICKET_SUBJECTS, r.u("tsubj", *ids))} as subject0,
            {_by_sentiment("x.sent", TICKET_OPENERS, r.u("topen", *ids))} || ' '
              || case when x.sent = 'neg' then {_pick(TICKET_MIDDLES["neg"], r.u("tmid", *ids))}
                      else {_pick(TICKET_MIDDLES["neu"], r.u("tmid", *ids))} end || ' '
              || {_by_sentiment("x.sent", TICKET_CLOSERS, r.u("tclose", *ids))}
              || {_pii(r, *ids, "1")} as body0,
            {r.u("tickpri", *ids)} as upri
        from tk0 x join acct ac using (a)
        """
    )
    hours = {"urgent": 4, "high": 12, "normal": 30, "low": 60}
    med = "case x.priority0 " + " ".join(f"when '{k}' then {v}" for k, v in hours.items()) + " end"
    con.execute(
        f"""
        create table tk2 as
        select x.*,
            x.opened_ts + to_seconds(floor(3600 * {med} * (1 + x.ru)
                * exp(0.9 * {r.n("tickres", "tickres2", *ids)}))::BIGINT) as closed_ts
        from tk1 x
        """
    )
    csat = f"""case when {r.u("tickcsat", *ids)} < 0.45 then
        case x.sent when 'neg' then 1 + floor(2 * {r.u("tickcsat2", *ids)})
                    when 'pos' then 4 + floor(2 * {r.u("tickcsat2", *ids)})
                    else 3 + floor(3 * {r.u("tickcsat2", *ids)}) end end"""
    con.execute(
        f"""
        create table tk3 as
        select x.*,
            x.closed_ts < {export_ts} as is_closed,
            case when x.closed_ts >= {export_ts} then
                    case when {export_ts} - x.opened_ts < interval 2 day then 'open' else 'pending' end
                 when {export_ts} - x.closed_ts < interval 7 day then 'solved' else 'closed' end as status,
            case when x.closed_ts < {export_ts} then {csat} end::BIGINT as csat_score
        from tk2 x
        where x.opened_ts < {export_ts}
        """
    )
    n_t = con.execute("select count(*) from tk3").fetchone()[0]
    k_ts = max(MIN_VIOLATIONS, round(n_t * FLAW_RATES["ticket_bad_timestamp"]))
    k_pri = max(MIN_VIOLATIONS, round(n_t * FLAW_RATES["ticket_bad_priority"]))
    bad_ts = _pick(
        ["2024-13-45", "n/a", "31/02/2024 25:61", "", "unknown", "2024-02-30T10:00:00Z"],
        r.u("badts2", "x.a", "x.d", "x.slot"),
    )
    con.execute(
        f"""
        create table tk4 as
        with ranked as (
            select x.*,
                row_number() over (order by hash(hash({r.seed}, 911, x.a, x.d, x.slot)), x.a, x.d, x.slot) as rk_ts,
                row_number() over (order by hash(hash({r.seed}, 912, x.a, x.d, x.slot)), x.a, x.d, x.slot) as rk_pri
            from tk3 x
        )
        select x.a, x.d, x.slot,
            'TCK-' || lpad(a::VARCHAR, 6, '0') || '-' || lpad(d::VARCHAR, 4, '0') || '-' || slot as ticket_id,
            x.account_id,
            case when rk_ts <= {k_ts} then {bad_ts}
                 else strftime(x.opened_ts, '%Y-%m-%dT%H:%M:%SZ') end as opened_at,
            case when x.is_closed then strftime(x.closed_ts, '%Y-%m-%dT%H:%M:%SZ') end as closed_at,
            case when rk_pri <= {k_pri} then 'P1'
                 when {r.u("pricase", "x.a", "x.d", "x.slot")} < {FLAW_RATES["ticket_priority_case"]}
                    then upper(x.priority0[1]) || x.priority0[2:]
                 else x.priority0 end as priority,
            x.status, x.csat_score,
            {_optnull(r, "x.subject0", "subject", "x.a", "x.d", "x.slot")} as subject,
            x.body0 as body,
            rk_ts <= {k_ts} as bad_ts, rk_pri <= {k_pri} as bad_pri,
            x.body0 like '% Contact me at %' or x.body0 like '% Call me on %' as has_pii,
            x.priority0 in ('urgent', 'high') as high_pri, x.sent
        from ranked x
        """
    )
    con.execute(
        f"""
        create table out_support_tickets as
        select (a * 100000 + d) * 100 + slot as __ord, 0 as dup, * from tk4
        union all
        select (a * 100000 + d) * 100 + slot, 1, * from tk4
        where {r.u("dupt", "a", "d", "slot")} < {FLAW_RATES["ticket_duplicate"]}
        """
    )
    for t in ("tk0", "tk1", "tk2", "tk3", "tk4"):
        con.execute(f"drop table {t}")


# --------------------------------------------------------------------------------------------
# surveys
# --------------------------------------------------------------------------------------------
def _build_surveys(con: duckdb.DuckDBPyConnection, r: _Sql, D: int, S: str, export_ts: str) -> None:
    # NPS waves every ~91 days (per-account offset), 1-5 contacts invited per wave by account size;
    # CSAT pulse every ~182 days to one contact.
    waves = D // 91 + 2
    con.execute(
        f"""
        create table sv0 as
        select ac.a, w.kind, w.wave, c.contact, ac.account_id, ac.domain, ac.fate,
            w.sd::INT as d
        from acct ac
        cross join lateral (
            select 'nps' as kind, unnest(range({waves})) as wave,
                   floor({r.u("waveoff", "ac.a")} * 91)::INT + 91 * unnest(range({waves}))
                     + floor(7 * {r.u("waveoff", "ac.a", "1")})::INT as sd
            union all
            select 'csat', unnest(range({waves // 2 + 1})),
                   floor({r.u("csatoff", "ac.a")} * 182)::INT + 182 * unnest(range({waves // 2 + 1}))
        ) w
        cross join lateral (
            select unnest(range(case when w.kind = 'nps'
                then least(5, 1 + floor(ln(ac.n_users) / 1.5))::INT else 1 end)) as contact
        ) c
        where w.sd < {D} and w.sd >= ac.cd and (ac.churn_d is null or w.sd < ac.churn_d)
        """
    )
    ids = ("x.a", "x.wave", "x.contact", "hash(x.kind)")
    score = f"""case when x.kind = 'nps' then
            least(10, greatest(0, round(8.6 - 6.5 * x.rt + 1.6 * {r.n("score", "score2", *ids)})))
        else least(5, greatest(1, round(4.3 - 2.8 * x.rt + 0.8 * {r.n("score", "score2", *ids)}))) end"""
    con.execute(
        f"""
        create table sv1 as
        select x.*,
            {S} + x.d as sent_day,
            ({S} + x.d)::TIMESTAMP + to_seconds(floor(9 * 3600 + 3600 * 8 * {r.u("ssent", *ids)})::BIGINT)
                as sent_at,
            {r.u("respond", *ids)} < (0.40 + 0.20 * {r.u("respond2", "x.a")}) * (1 - 0.35 * x.ru) as responded,
            {score}::BIGINT as score0
        from (
            select x.*, {_risk_usage("x.d")} as ru, {_risk_text("x.d")} as rt
            from sv0 x join acct ac using (a)
        ) x
        """
    )
    con.execute(
        f"""
        create table sv2 as
        select x.*,
            x.sent_at + to_seconds(floor(3600 * 24 * 10 * pow({r.u("rtime", *ids)}, 2) + 60)::BIGINT)
                as resp_ts,
            case when x.kind = 'nps' and x.score0 <= 6 then 'neg'
                 when x.kind = 'nps' and x.score0 >= 9 then 'pos'
                 when x.kind = 'csat' and x.score0 <= 2 then 'neg'
                 when x.kind = 'csat' and x.score0 >= 4 then 'pos' else 'neu' end as sent
        from sv1 x
        """
    )
    con.execute(
        f"""
        create table out_survey_responses as
        select ((x.a * 10 + (x.kind = 'csat')::INT) * 100 + x.wave) * 10 + x.contact as __ord,
            'SRV-' || lpad(x.a::VARCHAR, 6, '0') || '-' || x.kind || '-' || x.wave || '-' || x.contact
                as response_id,
            x.account_id,
            {_optnull(r, "'C-' || lpad(x.a::VARCHAR, 6, '0') || '-' || x.contact", "respondent", *ids)}
                as respondent_id,
            x.kind as survey_type, x.sent_at,
            case when x.responded and x.resp_ts < {export_ts} then x.resp_ts end as responded_at,
            case when x.responded and x.resp_ts < {export_ts} then x.score0 end as score,
            case when x.responded and x.resp_ts < {export_ts} and {r.u("stext", *ids)} < 0.6 then
                {_by_sentiment("x.sent", SURVEY_TEXTS, r.u("stext", *ids, "2"))} || {_pii(r, *ids, "2")}
            end as verbatim,
            x.ru, x.rt, x.fate
        from sv2 x join acct ac using (a)
        """
    )


# --------------------------------------------------------------------------------------------
# account notes, social mentions, overrides
# --------------------------------------------------------------------------------------------
def _build_notes(con: duckdb.DuckDBPyConnection, r: _Sql, D: int, S: str) -> None:
    con.execute(
        f"""
        create table nt0 as
        select ac.a, n.k,
            (n.base + floor(7 * {r.u("notejit", "ac.a", "n.k")}) - 3)::INT as d
        from acct ac
        cross join lateral (
            select unnest(range(0, {D} // g + 2)) as k,
                   floor({r.u("noteoff", "ac.a")} * g)::INT + g * unnest(range(0, {D} // g + 2)) as base
            from (select case ac.segment when 'Enterprise' then 14 when 'Mid-Market' then 24 else 40 end
                         + floor(10 * {r.u("notegap", "ac.a")})::INT as g)
        ) n
        """
    )
    ids = ("x.a", "x.k")
    # Ratings follow the usage risk; silent sufferers get middling ratings (the CSM half sees it).
    rating = f"""least(5, greatest(1, round(
        4.2 - 3.2 * x.ru - case when ac.fate = 'silent' then 1.4 else 0 end
        + 0.7 * {r.n("rating", "rating2", *ids)})))::BIGINT"""
    con.execute(
        f"""
        create table nt1 as
        select x.a, x.k, x.d, x.ru, x.rt, ac.fate, ac.account_id, ac.domain,
            case when {r.u("nauthor", *ids)} < 0.93 then ac.owner
                 else {_pick(OWNERS, r.u("nauthor", *ids, "2"))} end as author,
            {rating} as rating,
            {_sentiment(r.u("nsent", *ids), "x.rt")} as sent,
            ({S} + x.d)::TIMESTAMP + to_seconds(floor(8 * 3600 + 10 * 3600 * {r.u("ntext", *ids, "3")})::BIGINT)
                as noted_at
        from (
            select x.*, {_risk_usage("x.d")} as ru, {_risk_text("x.d")} as rt
            from nt0 x join acct ac using (a)
            where x.d >= 0 and x.d < {D} and x.d >= ac.cd and (ac.churn_d is null or x.d <= ac.churn_d)
        ) x join acct ac using (a)
        """
    )
    con.execute(
        f"""
        create table out_account_notes as
        select x.a * 1000 + x.k as __ord,
            'NOTE-' || lpad(x.a::VARCHAR, 6, '0') || '-' || x.k as note_id,
            x.account_id, x.author, x.rating,
            {
            _optnull(
                r,
                _by_sentiment("x.sent", NOTE_TEXTS, r.u("ntext", *ids))
                + " || ' ' || "
                + _by_sentiment("x.sent", NOTE_FOLLOWUPS, r.u("nfollow", *ids))
                + " || "
                + _pii(r, *ids, "3"),
                "note",
                *ids,
            )
        } as note_text,
            x.noted_at, x.ru, x.rt, x.fate, x.sent
        from nt1 x join acct ac using (a)
        """
    )


def _build_social(con: duckdb.DuckDBPyConnection, r: _Sql) -> None:
    ids = ("x.a", "x.d")
    con.execute(
        f"""
        create table out_social_mentions as
        select x.a * 100000 + x.d as __ord,
            'SOC-' || lpad(x.a::VARCHAR, 6, '0') || '-' || lpad(x.d::VARCHAR, 4, '0') as mention_id,
            ac.account_id,
            {_pick(CHANNELS, r.u("socialch", *ids))} as channel,
            {_by_sentiment(_sentiment(r.u("socsent", *ids), "x.rt"), SOCIAL_TEXTS, r.u("soctext", *ids))}
                || {_pii(r, *ids, "4")} as mention_text,
            x.day::TIMESTAMP + to_seconds(floor(86399 * {r.u("socialch", *ids, "2")})::BIGINT) as mentioned_at,
            x.rt
        from ad x join acct ac using (a)
        where not x.after_churn
          and {r.u("social", *ids)} < (2.0 + log10(ac.seats)) / 365.0
              * (1 + 1.5 * x.rt)
        """
    )
