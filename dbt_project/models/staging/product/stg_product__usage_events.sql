-- The one big source: materialized once so the dedupe window runs once, not in every
-- usage model that reads it (staging is otherwise views).
{{ config(materialized='table') }}

with

source as (

    select * from {{ source('raw', 'usage_events') }}

),

-- Re-exports repeat a key: keep the row from the latest load.
deduplicated as (

    select
        *,
        row_number() over (
            partition by event_id
            order by _loaded_at desc nulls last, _row_number desc nulls last
        ) as load_rank
    from source

),

final as (

    select
        event_id,
        account_id,
        user_id,
        feature,
        event_at,
        coalesce(quantity, 1.0) as quantity,
        received_at,
        coalesce(received_at, event_at) as known_at,
        _batch_id as batch_id,
        _loaded_at as loaded_at
    from deduplicated
    where load_rank = 1

)

select * from final
