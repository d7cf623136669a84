{{ config(materialized='table') }}

-- Support features per account and as_of_date. A ticket is known from opened_at; its
-- resolution and CSAT count from closed_at; it is open on D when opened on or before D
-- and not closed by the end of D.
with

tickets as (

    select
        account_id,
        priority,
        csat_score,
        {{ to_date('known_at') }} as opened_date,
        {{ to_date('closed_at') }} as closed_date,
        cast({{ dbt.datediff('opened_at', 'closed_at', 'second') }} as {{ type_double() }})
            / 3600.0 as resolution_hours
    from {{ ref('stg_support__tickets') }}

),

closed_tickets as (

    select
        account_id,
        csat_score,
        resolution_hours,
        greatest(closed_date, opened_date) as closed_date
    from tickets
    where closed_date is not null

),

intervals as (

    select
        account_id,
        'tickets_30d' as measure,
        opened_date as valid_from,
        {{ add_days('opened_date', 30) }} as valid_until,
        1 as amount
    from tickets

    union all

    select
        account_id,
        'tickets_90d' as measure,
        opened_date as valid_from,
        {{ add_days('opened_date', 90) }} as valid_until,
        1 as amount
    from tickets

    union all

    select
        account_id,
        'high_priority_tickets_90d' as measure,
        opened_date as valid_from,
        {{ add_days('opened_date', 90) }} as valid_until,
        1 as amount
    from tickets
    where priority in ('high', 'urgent')

    union all

    -- open from the opening day until the day it was closed (exclusive)
    select
        account_id,
        'open_tickets' as measure,
        opened_date as valid_from,
        closed_date as valid_until,
        1 as amount
    from tickets

    union all

    select
        account_id,
        'resolved_tickets_90d' as measure,
        closed_date as valid_from,
        {{ add_days('closed_date', 90) }} as valid_until,
        1 as amount
    from closed_tickets

    union all

    select
        account_id,
        'resolution_hours_sum_90d' as measure,
        closed_date as valid_from,
        {{ add_days('closed_date', 90) }} as valid_until,
        resolution_hours as amount
    from closed_tickets

    union all

    select
        account_id,
        'csat_responses_90d' as measure,
        closed_date as valid_from,
        {{ add_days('closed_date', 90) }} as valid_until,
        1 as amount
    from closed_tickets
    where csat_score is not null

    union all

    select
        account_id,
        'csat_sum_90d' as measure,
        closed_date as valid_from,
        {{ add_days('closed_date', 90) }} as valid_until,
        csat_score as amount
    from closed_tickets
    where csat_score is not null

),

dated as (

    select
        account_id,
        'last_ticket_known_date' as measure,
        opened_date as known_from,
        opened_date as value
    from tickets

),

{{ accumulate_intervals(
    'intervals',
    [
        'tickets_30d', 'tickets_90d', 'high_priority_tickets_90d', 'open_tickets',
        'resolved_tickets_90d', 'resolution_hours_sum_90d', 'csat_responses_90d', 'csat_sum_90d',
    ],
    dated='dated',
    latest_measures=['last_ticket_known_date'],
) }},

final as (

    select
        counts.account_id,
        counts.as_of_date,
        cast(counts.tickets_30d as {{ dbt.type_int() }}) as tickets_30d,
        cast(counts.tickets_90d as {{ dbt.type_int() }}) as tickets_90d,
        {{ safe_divide('counts.high_priority_tickets_90d', 'counts.tickets_90d') }} as high_priority_share_90d,
        cast(counts.open_tickets as {{ dbt.type_int() }}) as open_tickets,
        {{ safe_divide('counts.resolution_hours_sum_90d', 'counts.resolved_tickets_90d') }}
            as avg_resolution_hours_90d,
        {{ safe_divide('counts.csat_sum_90d', 'counts.csat_responses_90d') }} as csat_avg_90d,
        counts.last_ticket_known_date
    from intervals_accumulated as counts

)

select * from final
