{{ config(materialized='table') }}

{#- Coverage intervals of features used: a feature used on day e (known on day k)
    counts toward features_used_30d for as_of dates [max(e, k), e + 29]; merged per
    account and feature like int_users_active_intervals. -#}

with

as_of_range as (

    select * from {{ ref('int_as_of_range') }}

),

-- A day used on day e counts toward as_of dates up to e + 29 at the latest: older events
-- cannot change a day of the range, so an incremental run reads only the recent ones.
usage_events as (

    select usage_events.*
    from {{ ref('stg_product__usage_events') }} as usage_events
    cross join as_of_range
    where {{ to_date('usage_events.event_at') }} >= {{ add_days('as_of_range.as_of_start', -30) }}

),

feature_days as (

    select
        account_id,
        feature,
        {{ to_date('event_at') }} as event_date,
        min({{ to_date('known_at') }}) as known_date
    from usage_events
    group by
        account_id,
        feature,
        {{ to_date('event_at') }}

),

coverage as (

    select
        account_id,
        feature,
        greatest(event_date, known_date) as covered_from,
        {{ add_days('event_date', 29) }} as covered_to
    from feature_days

),

valid_coverage as (

    select * from coverage
    where covered_from <= covered_to

),

{{ merge_coverage_intervals('valid_coverage', ['account_id', 'feature']) }},

final as (

    select
        account_id,
        feature,
        covered_from,
        covered_to
    from valid_coverage_merged

)

select * from final
