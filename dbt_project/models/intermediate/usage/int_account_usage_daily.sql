{{ config(materialized='table') }}

-- Usage features per account and as_of_date, from records known by that date.
with

usage_daily as (

    select * from {{ ref('int_usage_daily') }}

),

users_active as (

    select * from {{ ref('int_users_active_intervals') }}

),

features_used as (

    select * from {{ ref('int_features_used_intervals') }}

),

intervals as (

    -- events in the 30 days ending D: [max(e, k), e + 30)
    select
        account_id,
        'events_30d' as measure,
        greatest(event_date, known_date) as valid_from,
        {{ add_days('event_date', 30) }} as valid_until,
        events as amount
    from usage_daily

    union all

    -- events in the 30 days before that: [max(e + 30, k), e + 60)
    select
        account_id,
        'events_prev_30d' as measure,
        greatest({{ add_days('event_date', 30) }}, known_date) as valid_from,
        {{ add_days('event_date', 60) }} as valid_until,
        events as amount
    from usage_daily

    union all

    select
        account_id,
        activity_window as measure,
        covered_from as valid_from,
        {{ add_days('covered_to', 1) }} as valid_until,
        1 as amount
    from users_active

    union all

    select
        account_id,
        'features_used_30d' as measure,
        covered_from as valid_from,
        {{ add_days('covered_to', 1) }} as valid_until,
        1 as amount
    from features_used

),

dated as (

    -- the latest activity day, known from max(e, k); the first day any usage was known
    select
        account_id,
        'last_activity_date' as measure,
        greatest(event_date, known_date) as known_from,
        event_date as value
    from usage_daily

    union all

    select
        account_id,
        'last_usage_known_date' as measure,
        known_date as known_from,
        known_date as value
    from usage_daily

),

{{ accumulate_intervals(
    'intervals',
    [
        'events_30d', 'events_prev_30d', 'active_users_30d', 'active_users_prev_30d', 'features_used_30d',
    ],
    dated='dated',
    latest_measures=['last_activity_date', 'last_usage_known_date'],
) }},

final as (

    select
        counts.account_id,
        counts.as_of_date,
        cast(counts.active_users_30d as {{ dbt.type_int() }}) as active_users_30d,
        cast(counts.active_users_prev_30d as {{ dbt.type_int() }}) as active_users_prev_30d,
        cast(counts.events_30d as {{ dbt.type_bigint() }}) as events_30d,
        cast(counts.events_prev_30d as {{ dbt.type_bigint() }}) as events_prev_30d,
        cast(counts.features_used_30d as {{ dbt.type_int() }}) as features_used_30d,
        counts.last_activity_date,
        counts.last_usage_known_date
    from intervals_accumulated as counts

)

select * from final
