-- The independent yardstick: fct_account_features_daily written by hand, apart from the dbt
-- models (docs/benchmarks.md, "The independent yardstick"). Read by benchmarks/independent/build.py,
-- which runs these statements in order in one DuckDB connection. `src` is the attached warehouse
-- holding the raw tables (and sentiment.text_scores); $ref_date$ is the reference date the
-- pipeline passes to dbt; lines with $...$ markers are filled from raw._feature_declarations.
--
-- How (../shared/STACK.md): days and accounts are integers; every windowed count or sum is a +x
-- on the day a record starts counting and a -x on the day it stops, gathered per (account, day)
-- per domain, then into one table; distinct users / features come from island edges of merged coverage
-- intervals; states (the account version, churn, NPS, the latest note, the active subscriptions)
-- are change records carried forward; one dense (account, day) table in order, then ONE window
-- with no PARTITION BY computes every running value in a single streaming pass.
--
-- Two parts. The first runs once: what is global across accounts (the dedupe of every source on
-- its record key, which may cross accounts; the version history; the as_of range; the accounts'
-- integers; the attribute pivot; and the small sources, whose presence decides whether ticket and
-- invoice columns are null). The second runs once per account bucket (build.py --buckets: a
-- contiguous range of the accounts in account_id order, `in_bucket`), and build.py appends each
-- bucket's rows to the mart: everything in it is per account, so the rows are the same.

-- day numbers: days since 1900-01-01
create or replace temp macro dn(x) as cast(cast(x as date) - date '1900-01-01' as integer);
create or replace temp macro dd(n) as cast(date '1900-01-01' + cast(n as integer) as date);
-- a packed (account, day) key: running maxima across accounts stay in their account
create or replace temp macro pk(a, d) as cast(a as bigint) * 1048576 + d;

-- Usage. Duplicated event ids (re-exports) keep the latest load's row: the ids and their winning
-- rows are found once over all events (a re-export may move an event to another account).
create temp table repeated_events as
select event_id from src.raw.usage_events group by event_id having count(*) > 1;

create temp table repeated_winners as
select account_id, user_id, feature, event_at, received_at, quantity, _loaded_at
from (
    select * from src.raw.usage_events semi join repeated_events using (event_id)
    qualify row_number() over (
        partition by event_id order by _loaded_at desc nulls last, _row_number desc nulls last) = 1
);

create temp view all_usage_events as
select account_id, user_id, feature, event_at, received_at, quantity, _loaded_at
from src.raw.usage_events anti join repeated_events using (event_id)
union all
select * from repeated_winners;

-- the first and last day an event became known, and the load watermark (for the as_of range)
create temp table usage_known as
select min(k) as first_k, max(k) as last_k, max(_loaded_at) as loaded_at
from (select dn(coalesce(received_at, event_at)) as k, _loaded_at from all_usage_events);

-- The small sources, deduplicated on their key (the latest load's row wins).
create temp table tickets as
select account_id, opened_at, closed_at, lower(trim(priority)) as priority, csat_score, _loaded_at
from src.raw.support_tickets
qualify row_number() over (partition by ticket_id order by _loaded_at desc nulls last, _row_number desc nulls last) = 1;

create temp table surveys as
select response_id, account_id, lower(trim(survey_type)) as survey_type, sent_at, responded_at, score, _loaded_at
from src.raw.survey_responses
qualify row_number() over (partition by response_id order by _loaded_at desc nulls last, _row_number desc nulls last) = 1;

create temp table invoices as
select account_id, issued_at, due_date, paid_at, lower(trim(status)) as status, _loaded_at
from src.raw.invoices
qualify row_number() over (partition by invoice_id order by _loaded_at desc nulls last, _row_number desc nulls last) = 1;

create temp table notes as
select note_id, account_id, rating, noted_at, _loaded_at
from src.raw.account_notes
qualify row_number() over (partition by note_id order by _loaded_at desc nulls last, _row_number desc nulls last) = 1;

create temp table mentions as
select account_id, mentioned_at, _loaded_at
from src.raw.social_mentions
qualify row_number() over (partition by mention_id order by _loaded_at desc nulls last, _row_number desc nulls last) = 1;

create temp table outcomes as
select outcome_id, account_id, lower(trim(outcome_type)) as outcome_type, outcome_date, _loaded_at
from src.raw.outcomes
qualify row_number() over (partition by outcome_id order by _loaded_at desc nulls last, _row_number desc nulls last) = 1;

-- metrics: one measurement per id, then one per (account, metric, instant)
create temp table metrics as
select account_id, metric_name as metric, value, measured_at, coalesce(received_at, measured_at) as known_at, _loaded_at
from (
    select *, lower(trim(metric)) as metric_name
    from src.raw.account_metrics
    qualify row_number() over (partition by measurement_id order by _loaded_at desc nulls last, _row_number desc nulls last) = 1
)
qualify row_number() over (
    partition by account_id, metric_name, measured_at order by _loaded_at desc nulls last, _row_number desc nulls last) = 1;

-- Current-state exports with history: one version per key and load day (capped at the
-- reference date); the first version also stands for every earlier date.
create temp table account_versions as
select *,
    case when row_number() over w = 1 then -1 else known_from end as valid_from,
    lead(known_from) over w as valid_to
from (
    select account_id, account_name, industry,
        case lower(trim(segment)) when 'smb' then 'SMB' when 'mid-market' then 'Mid-Market'
            when 'enterprise' then 'Enterprise' else trim(segment) end as segment,
        owner, created_at, parent_account_id, _batch_id, _loaded_at,
        least(dn(_loaded_at), dn(date '$ref_date$')) as known_from
    from src.raw.accounts
    where account_id is not null
    qualify row_number() over (
        partition by account_id, least(dn(_loaded_at), dn(date '$ref_date$'))
        order by _loaded_at desc nulls last, _batch_id desc nulls last, _row_number desc nulls last) = 1
)
window w as (partition by account_id order by known_from nulls first);

create temp table subscription_versions as
select *,
    case when row_number() over w = 1 then -1 else known_from end as valid_from,
    lead(known_from) over w as valid_to
from (
    select subscription_id, account_id, plan, seats, mrr, coalesce(arr, 12 * mrr) as arr,
        start_date, end_date, renewal_date, lower(trim(status)) as status, discount_pct, _batch_id, _loaded_at,
        least(dn(_loaded_at), dn(date '$ref_date$')) as known_from
    from src.raw.subscriptions
    where subscription_id is not null
    qualify row_number() over (
        partition by subscription_id, least(dn(_loaded_at), dn(date '$ref_date$'))
        order by _loaded_at desc nulls last, _batch_id desc nulls last, _row_number desc nulls last) = 1
)
window w as (partition by subscription_id order by known_from nulls first);

-- The as_of range: to the latest day any event record became known (capped at the reference
-- date; a snapshot-only dataset: its latest export), a year back or to the first known day.
create temp table as_of_range as
with known as (
    select first_k, last_k from usage_known
    union all select min(dn(opened_at)), max(dn(opened_at)) from tickets
    union all select min(dn(sent_at)), max(dn(sent_at)) from surveys
    union all select min(dn(issued_at)), max(dn(issued_at)) from invoices
    union all select min(dn(noted_at)), max(dn(noted_at)) from notes
    union all select min(dn(mentioned_at)), max(dn(mentioned_at)) from mentions
    union all select min(dn(known_at)), max(dn(known_at)) from metrics
),
ends as (
    select min(first_k) as first_k,
        least(coalesce(max(last_k), (
            select max(known_from) from (
                select max(known_from) as known_from from account_versions
                union all select max(known_from) from subscription_versions
            )
        )), dn(date '$ref_date$')) as end_d
    from known
)
select
    greatest(end_d - 364, coalesce(first_k, end_d)) as start_d,
    end_d,
    (
        select max(loaded_at) from (
            select loaded_at from usage_known
            union all select max(_loaded_at) from tickets
            union all select max(_loaded_at) from surveys
            union all select max(_loaded_at) from invoices
            union all select max(_loaded_at) from notes
            union all select max(_loaded_at) from mentions
            union all select max(_loaded_at) from metrics
            union all select max(_loaded_at) from account_versions
            union all select max(_loaded_at) from subscription_versions
            union all select max(_loaded_at) from outcomes
        )
    ) as inputs_loaded_through
from ends;

-- Accounts as integers in account_id order, with their first and last as_of day (from the
-- current version's creation, or the start of the range).
create temp table all_spans as
select row_number() over (order by v.account_id) as a, v.account_id,
    greatest(r.start_d, dn(v.created_at)) as fd, r.end_d as ld
from account_versions as v, as_of_range as r
where v.valid_to is null and dn(v.created_at) <= r.end_d and r.start_d <= r.end_d;

-- Custom attributes: the values each loaded version carried ($attribute_pivot$)
create temp table attribute_versions as
select source, record_id, batch_id $attribute_columns$
from src.raw._attribute_values
group by source, record_id, batch_id;

-- ==== once per account bucket ====
-- in_bucket: build.py's bucket, `account_id between <first> and <last>` (or true: one bucket).
create or replace temp macro in_bucket(account_id) as $in_bucket$;

-- the bucket's accounts
create temp table spans as
select * from all_spans where in_bucket(account_id);

-- Usage: one scan of the bucket's events; three grouping sets give events per (account, event
-- day, known day) and used days per user and per feature (the first day each was known).
create temp view usage_events as
select * from all_usage_events where in_bucket(account_id);

create temp table usage_groups as
select
    grouping(user_id, feature, k) as g,
    account_id, user_id, feature, e, k,
    count(*) as n,
    min(k) as first_k
from (
    select account_id, user_id, feature,
        dn(event_at) as e, dn(coalesce(received_at, event_at)) as k
    from usage_events
)
group by grouping sets ((account_id, e, k), (account_id, user_id, e), (account_id, feature, e));
-- g (grouping bits of user_id, feature, k): 6 = (account, e, k); 3 = (account, user, e); 5 = (account, feature, e)

-- Distinct users and features: coverage intervals [from, to] per member (account x user x
-- window, account x feature), merged into islands by one running max over the members in
-- order; only island starts (+1) and ends (-1 the day after) become deltas.
create temp table user_members as
select row_number() over () as m, a, account_id, user_id
from (select distinct s.a, u.account_id, u.user_id from usage_groups as u inner join spans as s using (account_id) where u.g = 3);

create temp table feature_members as
select row_number() over () as m, a, account_id, feature
from (select distinct s.a, u.account_id, u.feature from usage_groups as u inner join spans as s using (account_id) where u.g = 5);

-- kind 0: active_users_30d, 1: active_users_prev_30d, 2: features_used_30d (member = m * 4 + kind)
create temp table coverage as
with user_days as (
    select mb.m, mb.a, u.e, u.first_k as k
    from usage_groups as u
    inner join user_members as mb on u.account_id = mb.account_id and u.user_id is not distinct from mb.user_id
    where u.g = 3
),
feature_days as (
    select mb.m, mb.a, u.e, u.first_k as k
    from usage_groups as u
    inner join feature_members as mb on u.account_id = mb.account_id and u.feature is not distinct from mb.feature
    where u.g = 5
)
select m * 4 + 0 as member, a, 0 as kind, greatest(e, k) as f, e + 29 as t from user_days
union all
select m * 4 + 1, a, 1, greatest(e + 30, k), e + 59 from user_days
union all
select m * 4 + 2, a, 2, greatest(e, k), e + 29 from feature_days;
delete from coverage where f > t;

create temp table island_edges as
with ordered as (
    select member, a, kind, f, t,
        max(member * 4194304 + t) over (order by member, f, t rows between unbounded preceding and 1 preceding)
            as previous_max,
        max(member * 4194304 + t) over (order by member, f, t rows between unbounded preceding and current row)
            as running_max,
        lead(member) over (order by member, f, t) as next_member
    from coverage
),
flagged as (
    select *,
        previous_max is not null and previous_max // 4194304 = member as same_member_before,
        previous_max % 4194304 as previous_to
    from ordered
)
-- an island starts where the member changes or the interval begins after the day after the
-- running end; the island before it (same member) ends at that running end
select a, kind, f as d, 1 as delta from flagged
where not same_member_before or f > previous_to + 1
union all
select a, kind, previous_to + 1, -1 from flagged
where same_member_before and f > previous_to + 1
union all
select a, kind, running_max % 4194304 + 1, -1 from flagged
where next_member is null or next_member <> member;

$metric_measurements$

-- Sentiment texts scored by the pipeline's sentiment model (Python; not SQL): an input here.
create temp table texts as
select t.channel, t.record_id, t.account_id, s.a, dn(t.known_at) as k, cast(t.compound as double) as compound,
    t.label, t.is_very_negative, t.topic, t.excerpt
from src.sentiment.text_scores as t inner join spans as s using (account_id)
where t.account_id is not null and t.known_at is not null and t.compound is not null;

-- The subscription terms active on a day (start <= D <= end, version known on D), as segments
-- of constant active set per account: each segment carries what the day's features need.
create temp table term_spans as
select s.a, v.*,
    greatest(dn(v.start_date), v.valid_from) as active_from,
    -- exclusive end: the day after end_date, or the next version's day
    case
        when v.valid_to is null then dn(v.end_date) + 1
        when v.end_date is null or v.valid_to < dn(v.end_date) + 1 then v.valid_to
        else dn(v.end_date) + 1
    end as active_until
from subscription_versions as v inner join spans as s using (account_id)
where v.start_date is not null;
delete from term_spans where active_until is not null and active_until <= active_from;


create temp table term_segments as
with bounds as (
    select a, active_from as d from term_spans
    union
    select a, active_until from term_spans where active_until is not null
),
segments as (
    select a, d as seg_from from bounds
),
active as (
    select g.a, g.seg_from, t.subscription_id, t.plan, t.mrr, t.arr, t.start_date, t.end_date,
        t.renewal_date, t.status, t.discount_pct, t._batch_id,
        row_number() over (
            partition by g.a, g.seg_from
            order by t.mrr desc nulls last, t.start_date desc nulls last, t.subscription_id asc nulls last
        ) as term_rank
    from segments as g
    inner join term_spans as t
        on t.a = g.a and t.active_from <= g.seg_from and (t.active_until is null or g.seg_from < t.active_until)
)
select g.a, g.seg_from,
    max(x.discount_pct) as discount_pct,
    list(dn(x.renewal_date)) filter (where x.renewal_date is not null) as renewals,
    min(dn(x.start_date)) as first_start,
    list({s: dn(x.start_date), r: dn(x.renewal_date)}) filter (where x.start_date is not null) as terms,
    any_value(x.plan) filter (where x.term_rank = 1) as plan,
    -- the term as contracted: to the renewal date, else to the end date unless cancelled
    any_value(round((dn(case when x.renewal_date is not null then x.renewal_date
                             when x.status <> 'cancelled' then x.end_date end) - dn(x.start_date)) / 30.4375))
        filter (where x.term_rank = 1) as contract_term_months,
    any_value(x.subscription_id) filter (where x.term_rank = 1) as primary_subscription_id,
    any_value(x._batch_id) filter (where x.term_rank = 1) as primary_batch_id,
    sum(x.arr) as total_arr,
    count(x.subscription_id) as n_terms
from segments as g
left join active as x on x.a = g.a and x.seg_from = g.seg_from
group by g.a, g.seg_from;

-- The states, one change record per (account, day) (records before an account's first day
-- pile up on it: the latest wins; after its last day they are dropped).
create temp table account_state as
select s.a, greatest(v.valid_from, s.fd) as d,
    arg_max({
        a: s.a, account_name: v.account_name, segment: v.segment, industry: v.industry, owner: v.owner,
        parent_account_id: v.parent_account_id, created_at: v.created_at $account_attribute_fields$
    }, v.valid_from) as account_state
from account_versions as v
inner join spans as s using (account_id)
left join attribute_versions as av
    on av.source = 'accounts' and av.record_id = v.account_id and av.batch_id = v._batch_id
where v.valid_from <= s.ld
group by s.a, greatest(v.valid_from, s.fd);

-- the latest churn / renewal / expansion dated by D decides (a churn last on its day)
create temp table churn_state as
select s.a, greatest(dn(o.outcome_date), s.fd) as d,
    arg_max({a: s.a, churned_on: case when o.outcome_type = 'churn' then o.outcome_date end},
        (dn(o.outcome_date), o.outcome_type = 'churn', o.outcome_id)) as churn_state
from outcomes as o inner join spans as s using (account_id)
where o.outcome_type in ('churn', 'renewal', 'expansion') and dn(o.outcome_date) <= s.ld
group by s.a, greatest(dn(o.outcome_date), s.fd);

-- the latest NPS response answered by D (valid 365 days) and the one before it
create temp table nps_state as
with nps as (
    select a, score, responded_at, response_id, rday,
        lag(score) over w as previous_score,
        lag(rday) over w as previous_rday
    from (
        select s.a, r.score, r.responded_at, r.response_id,
            greatest(dn(r.responded_at), dn(r.sent_at)) as rday
        from surveys as r inner join spans as s using (account_id)
        where r.survey_type = 'nps' and r.responded_at is not null and r.score is not null
    )
    window w as (partition by a order by rday, responded_at, response_id)
)
select n.a, greatest(n.rday, s.fd) as d,
    arg_max({a: n.a, rday: n.rday, score: n.score, previous_score: n.previous_score,
        previous_rday: n.previous_rday}, (n.rday, n.responded_at, n.response_id)) as nps_state
from nps as n inner join spans as s using (a)
where n.rday <= s.ld
group by n.a, greatest(n.rday, s.fd);

-- the latest account-manager note's rating
create temp table note_state as
select s.a, greatest(dn(n.noted_at), s.fd) as d,
    arg_max({a: s.a, rating: n.rating}, (n.noted_at, n.note_id)) as note_state
from notes as n inner join spans as s using (account_id)
where dn(n.noted_at) <= s.ld
group by s.a, greatest(dn(n.noted_at), s.fd);

-- the active subscription terms (a segment with none clears the previous one)
create temp table term_state as
select t.a, greatest(t.seg_from, s.fd) as d,
    arg_max({
        a: t.a, discount_pct: t.discount_pct, renewals: t.renewals, first_start: t.first_start,
        terms: t.terms, plan: t.plan, contract_term_months: t.contract_term_months,
        total_arr: t.total_arr, n_terms: t.n_terms $subscription_attribute_fields$
    }, t.seg_from) as term_state
from term_segments as t
inner join spans as s using (a)
left join attribute_versions as av
    on av.source = 'subscriptions' and av.record_id = t.primary_subscription_id and av.batch_id = t.primary_batch_id
where t.seg_from <= s.ld
group by t.a, greatest(t.seg_from, s.fd);

-- the most negative very negative text of the last 14 days (rare: expanded to its 14 days)
create temp table worst_text as
select a, d,
    arg_min({channel: channel, record_id: record_id, k: k, topic: topic, excerpt: excerpt},
        (compound, -k, record_id)) as worst
from (select *, unnest(range(k, k + 14)) as d from texts where is_very_negative)
group by a, d;

-- Every delta and dated value, keyed by account and day number (before clamping to the
-- account's days), one view per domain; build.py sums each per (account, day), then gathers them.
create temp view usage_deltas as
-- usage: events in the 30 days ending D, [max(e, k), e + 30), and the 30 days before
select account_id, greatest(e, k) as d, n as events_30d from usage_groups where g = 6 and greatest(e, k) < e + 30
union all by name select account_id, e + 30 as d, -n as events_30d from usage_groups where g = 6 and greatest(e, k) < e + 30
union all by name select account_id, greatest(e + 30, k) as d, n as events_prev_30d from usage_groups where g = 6 and greatest(e + 30, k) < e + 60
union all by name select account_id, e + 60 as d, -n as events_prev_30d from usage_groups where g = 6 and greatest(e + 30, k) < e + 60
union all by name select account_id, greatest(e, k) as d, e as last_activity from usage_groups where g = 6
union all by name select account_id, k as d, k as last_usage_known from usage_groups where g = 6
;

create temp view support_deltas as
-- support: counted from the opening day, open until the closing day; resolution and CSAT from the closing day
select account_id, dn(opened_at) as d, 1 as tickets_30d, 1 as tickets_90d,
    case when priority in ('high', 'urgent') then 1 else 0 end as high_priority_90d,
    dn(opened_at) as last_ticket_known from tickets
union all by name select account_id, dn(opened_at) + 30 as d, -1 as tickets_30d from tickets
union all by name select account_id, dn(opened_at) + 90 as d, -1 as tickets_90d,
    case when priority in ('high', 'urgent') then -1 else 0 end as high_priority_90d from tickets
union all by name select account_id, dn(opened_at) as d, 1 as open_tickets from tickets
    where closed_at is null or dn(opened_at) < dn(closed_at)
union all by name select account_id, dn(closed_at) as d, -1 as open_tickets from tickets
    where dn(opened_at) < dn(closed_at)
union all by name select account_id, d, sgn as resolved_90d, sgn * seconds as resolution_seconds_90d,
    case when csat_score is not null then sgn else 0 end as csat_responses_90d,
    sgn * coalesce(csat_score, 0) as csat_sum_90d
    from (
        select account_id, csat_score, date_diff('second', opened_at, closed_at) as seconds,
            unnest([greatest(dn(closed_at), dn(opened_at)), greatest(dn(closed_at), dn(opened_at)) + 90]) as d,
            unnest([1, -1]) as sgn
        from tickets where closed_at is not null
    )
;

create temp view voice_deltas as
-- voice: invitations sent in the 180 days ending D; of those, the ones answered by D
select account_id, dn(sent_at) as d, 1 as invitations_180d, dn(sent_at) as last_survey_known from surveys
union all by name select account_id, dn(sent_at) + 180 as d, -1 as invitations_180d from surveys
union all by name select account_id, greatest(dn(responded_at), dn(sent_at)) as d, 1 as responses_180d from surveys
    where responded_at is not null and greatest(dn(responded_at), dn(sent_at)) < dn(sent_at) + 180
union all by name select account_id, dn(sent_at) + 180 as d, -1 as responses_180d from surveys
    where responded_at is not null and greatest(dn(responded_at), dn(sent_at)) < dn(sent_at) + 180
;

create temp view billing_deltas as
-- billing: each term version counts while it is the one known (greatest() skips nulls)
select account_id, d, sgn * cast(mrr as decimal(18, 6)) as mrr, sgn * coalesce(seats, 0) as seats,
    sgn as active_subscriptions
    from (
        select account_id, mrr, seats, unnest([f, u]) as d, unnest([1, -1]) as sgn
        from (
            select account_id, mrr, seats, greatest(dn(start_date), valid_from) as f,
                case when valid_to is null then dn(end_date) + 1
                    when end_date is null or valid_to < dn(end_date) + 1 then valid_to
                    else dn(end_date) + 1 end as u
            from subscription_versions
        )
        where u is null or f < u
    )
    where d is not null
union all by name select account_id, d, sgn * cast(mrr as decimal(18, 6)) as mrr_90d_ago
    from (
        select account_id, mrr, unnest([f, u]) as d, unnest([1, -1]) as sgn
        from (
            select account_id, mrr, greatest(dn(start_date) + 90, valid_from) as f,
                case when valid_to is null then dn(end_date) + 91
                    when end_date is null or valid_to < dn(end_date) + 91 then valid_to
                    else dn(end_date) + 91 end as u
            from subscription_versions
        )
        where u is null or f < u
    )
    where d is not null
union all by name select account_id, greatest(dn(start_date), valid_from) as d, dn(start_date) as last_billing_known
    from subscription_versions
-- invoices: void ones were never owed
union all by name select account_id, dn(issued_at) as d, dn(issued_at) as last_billing_known
    from invoices where status <> 'void'
union all by name select account_id, greatest(dn(due_date) + 1, dn(issued_at)) as d, 1 as overdue_invoices
    from invoices where status <> 'void' and (paid_at is null or greatest(dn(due_date) + 1, dn(issued_at)) < dn(paid_at))
union all by name select account_id, dn(paid_at) as d, -1 as overdue_invoices
    from invoices where status <> 'void' and greatest(dn(due_date) + 1, dn(issued_at)) < dn(paid_at)
union all by name select account_id, greatest(dn(due_date) + 1, dn(issued_at)) as d, 1 as late_payments_180d
    from invoices where status <> 'void' and (paid_at is null or paid_at > due_date)
        and (due_date is null or greatest(dn(due_date) + 1, dn(issued_at)) < dn(due_date) + 180)
union all by name select account_id, dn(due_date) + 180 as d, -1 as late_payments_180d
    from invoices where status <> 'void' and (paid_at is null or paid_at > due_date)
        and greatest(dn(due_date) + 1, dn(issued_at)) < dn(due_date) + 180
union all by name select account_id, greatest(dn(due_date), dn(issued_at)) as d, 1 as failed_payments_180d
    from invoices where status = 'failed'
        and (due_date is null or greatest(dn(due_date), dn(issued_at)) < dn(due_date) + 180)
union all by name select account_id, dn(due_date) + 180 as d, -1 as failed_payments_180d
    from invoices where status = 'failed' and greatest(dn(due_date), dn(issued_at)) < dn(due_date) + 180
;

create temp view signal_deltas as
-- the latest note, mention and outcome known
select account_id, dn(noted_at) as d, dn(noted_at) as last_note from notes
union all by name select account_id, dn(mentioned_at) as d, dn(mentioned_at) as last_mention from mentions
union all by name select account_id, dn(outcome_date) as d, dn(outcome_date) as last_outcome from outcomes
;

create temp view sentiment_deltas as
-- sentiment: per channel (tickets, notes, social 90 days, surveys 180), every text 90 days,
-- negatives 90 and 14 days, very negative 14 days, the last 30 days and the 30 days before
select account_id, d,
    case when channel = 'tickets' then sgn * compound else 0 end as tickets_sentiment_sum,
    case when channel = 'tickets' then sgn else 0 end as tickets_sentiment_items,
    case when channel = 'surveys' then sgn * compound else 0 end as surveys_sentiment_sum,
    case when channel = 'surveys' then sgn else 0 end as surveys_sentiment_items,
    case when channel = 'notes' then sgn * compound else 0 end as notes_sentiment_sum,
    case when channel = 'notes' then sgn else 0 end as notes_sentiment_items,
    case when channel = 'social' then sgn * compound else 0 end as social_sentiment_sum,
    case when channel = 'social' then sgn else 0 end as social_sentiment_items
    from (
        select account_id, channel, compound, unnest([k, k + case when channel = 'surveys' then 180 else 90 end]) as d,
            unnest([1, -1]) as sgn
        from texts
    )
union all by name select account_id, d, sgn as items_90d,
    case when label = 'negative' then sgn else 0 end as negative_items_90d
    from (select account_id, label, unnest([k, k + 90]) as d, unnest([1, -1]) as sgn from texts)
union all by name select account_id, d, case when label = 'negative' then sgn else 0 end as negative_items_14d,
    case when is_very_negative then sgn else 0 end as very_negative_items_14d
    from (select account_id, label, is_very_negative, unnest([k, k + 14]) as d, unnest([1, -1]) as sgn from texts)
union all by name select account_id, d, sgn * compound as sentiment_sum_30d, sgn as sentiment_items_30d
    from (select account_id, compound, unnest([k, k + 30]) as d, unnest([1, -1]) as sgn from texts)
union all by name select account_id, d, sgn * compound as sentiment_sum_prev_30d, sgn as sentiment_items_prev_30d
    from (select account_id, compound, unnest([k + 30, k + 60]) as d, unnest([1, -1]) as sgn from texts)
;

-- custom metrics: sums and counts of the declared windows
create temp view metric_deltas as
select cast(null as varchar) as account_id, cast(null as integer) as d where false
$metric_deltas$;
