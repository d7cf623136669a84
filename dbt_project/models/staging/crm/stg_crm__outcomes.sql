with

source as (

    select * from {{ source('raw', 'outcomes') }}

),

-- Re-exports repeat a key: keep the row from the latest load.
deduplicated as (

    select
        *,
        row_number() over (
            partition by outcome_id
            order by _loaded_at desc nulls last, _row_number desc nulls last
        ) as load_rank
    from source

),

final as (

    select
        outcome_id,
        account_id,
        lower(trim(outcome_type)) as outcome_type,
        outcome_date,
        mrr_delta,
        reason,
        cast(outcome_date as timestamp) as known_at,
        _batch_id as batch_id,
        _loaded_at as loaded_at
    from deduplicated
    where load_rank = 1

)

select * from final
