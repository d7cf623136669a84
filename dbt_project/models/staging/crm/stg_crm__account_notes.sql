with

source as (

    select * from {{ source('raw', 'account_notes') }}

),

-- Re-exports repeat a key: keep the row from the latest load.
deduplicated as (

    select
        *,
        row_number() over (
            partition by note_id
            order by _loaded_at desc nulls last, _row_number desc nulls last
        ) as load_rank
    from source

),

final as (

    select
        note_id,
        account_id,
        author,
        rating,
        note_text,
        noted_at,
        noted_at as known_at,
        _batch_id as batch_id,
        _loaded_at as loaded_at
    from deduplicated
    where load_rank = 1

)

select * from final
