-- A table, not a view: the two dedupe windows run once per build, not in every reader
-- (int_as_of_range, the custom-metrics model and the data tests each read it; as a view at
-- M, about 1 s per read).
{{ config(materialized='table') }}

with

source as (

    select * from {{ source('raw', 'account_metrics') }}

),

-- Re-exports repeat a key: keep the row from the latest load. The same metric measured twice
-- at the same instant is one measurement too (latest load wins).
deduplicated as (

    select
        *,
        row_number() over (
            partition by measurement_id
            order by _loaded_at desc nulls last, _row_number desc nulls last
        ) as load_rank
    from source

),

by_instant as (

    select
        *,
        row_number() over (
            partition by account_id, lower(trim(metric)), measured_at
            order by _loaded_at desc nulls last, _row_number desc nulls last
        ) as instant_rank
    from deduplicated
    where load_rank = 1

),

final as (

    select
        measurement_id,
        account_id,
        lower(trim(metric)) as metric,
        value,
        measured_at,
        received_at,
        coalesce(received_at, measured_at) as known_at,
        _batch_id as batch_id,
        _loaded_at as loaded_at
    from by_instant
    where instant_rank = 1

)

select * from final
