-- Usage events per account, event day and known day (late arrivals are known after
-- the day they happened): the small table every usage count is built from.
--
-- Only what can still change a day of the build range (int_as_of_range) is counted: an event
-- counts toward a usage window for 60 days after its day at most, so events older than that
-- and known before the range starts matter only through the latest activity and known dates.
-- They collapse into one row per account (events 0, their latest event day and known day; both
-- before the range, so they count from its first day on, as each of them would). A daily run
-- then aggregates the last 60 days of events, not the whole history.
with

usage_events as (

    select * from {{ ref('stg_product__usage_events') }}

),

as_of_range as (

    select * from {{ ref('int_as_of_range') }}

),

dated_events as (

    select
        usage_events.account_id,
        {{ to_date('usage_events.event_at') }} as event_date,
        {{ to_date('usage_events.known_at') }} as known_date,
        usage_events.quantity,
        (
            {{ to_date('usage_events.event_at') }} < {{ add_days('as_of_range.as_of_start', -60) }}
            and {{ to_date('usage_events.known_at') }} < as_of_range.as_of_start
        ) as is_history
    from usage_events
    cross join as_of_range

),

recent as (

    select
        account_id,
        event_date,
        known_date,
        count(*) as events,
        sum(quantity) as quantity
    from dated_events
    where not is_history
    group by
        account_id,
        event_date,
        known_date

),

history as (

    select
        account_id,
        max(event_date) as event_date,
        max(known_date) as known_date,
        0 as events,
        cast(null as {{ type_double() }}) as quantity
    from dated_events
    where is_history
    group by account_id

),

final as (

    select * from recent
    union all
    select * from history

)

select * from final
