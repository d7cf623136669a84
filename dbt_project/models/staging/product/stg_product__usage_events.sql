-- The one big source: a table, so the dedupe window runs once, not in every usage model
-- that reads it (staging is otherwise views). Incremental: a run reads only rows loaded
-- after the newest load already here and replaces the events they repeat (a re-export's
-- row wins over the earlier load, as in a full build).
{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key='event_id',
    on_schema_change='sync_all_columns',
) }}

with

source as (

    select * from {{ source('raw', 'usage_events') }}
    {% if is_incremental() -%}
    where _loaded_at > (
        select coalesce(max(loaded_at), cast('1900-01-01' as {{ dbt.type_timestamp() }})) from {{ this }}
    )
    {%- endif %}

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
