-- Usage events per account, event day and known day (late arrivals are known after
-- the day they happened): the small table every usage count is built from.
with

usage_events as (

    select * from {{ ref('stg_product__usage_events') }}

),

final as (

    select
        account_id,
        {{ to_date('event_at') }} as event_date,
        {{ to_date('known_at') }} as known_date,
        count(*) as events,
        sum(quantity) as quantity
    from usage_events
    group by
        account_id,
        {{ to_date('event_at') }},
        {{ to_date('known_at') }}

)

select * from final
