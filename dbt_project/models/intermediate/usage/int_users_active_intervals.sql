{{ config(materialized='table') }}

{#- Coverage intervals of active users. A user active on day e (known on day k) counts
    toward active_users_30d for as_of dates [max(e, k), e + 29] and toward
    active_users_prev_30d for [max(e + 30, k), e + 59]. Each user's intervals are merged
    into disjoint islands, so a running count of island starts minus ends is the
    distinct-user count on every day (STACK.md: 10x faster and 12x less memory than
    expanding every activity day into the 30 days it counts for). -#}

with

as_of_range as (

    select * from {{ ref('int_as_of_range') }}

),

-- A day used on day e counts toward as_of dates up to e + 59 at the latest: older events
-- cannot change a day of the range, so an incremental run reads only the recent ones.
usage_events as (

    select usage_events.*
    from {{ ref('stg_product__usage_events') }} as usage_events
    cross join as_of_range
    where {{ to_date('usage_events.event_at') }} >= {{ add_days('as_of_range.as_of_start', -60) }}

),

user_days as (

    select
        account_id,
        user_id,
        {{ to_date('event_at') }} as event_date,
        min({{ to_date('known_at') }}) as known_date
    from usage_events
    group by
        account_id,
        user_id,
        {{ to_date('event_at') }}

),

coverage as (

    select
        account_id,
        user_id,
        'active_users_30d' as activity_window,
        greatest(event_date, known_date) as covered_from,
        {{ add_days('event_date', 29) }} as covered_to
    from user_days

    union all

    select
        account_id,
        user_id,
        'active_users_prev_30d' as activity_window,
        greatest({{ add_days('event_date', 30) }}, known_date) as covered_from,
        {{ add_days('event_date', 59) }} as covered_to
    from user_days

),

valid_coverage as (

    select * from coverage
    where covered_from <= covered_to

),

{{ merge_coverage_intervals('valid_coverage', ['account_id', 'user_id', 'activity_window']) }},

final as (

    select
        account_id,
        user_id,
        activity_window,
        covered_from,
        covered_to
    from valid_coverage_merged

)

select * from final
