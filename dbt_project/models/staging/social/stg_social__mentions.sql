with

source as (

    select * from {{ source('raw', 'social_mentions') }}

),

-- Re-exports repeat a key: keep the row from the latest load.
deduplicated as (

    select
        *,
        row_number() over (
            partition by mention_id
            order by _loaded_at desc nulls last, _row_number desc nulls last
        ) as load_rank
    from source

),

final as (

    select
        mention_id,
        account_id,
        lower(trim(channel)) as channel,
        mention_text,
        mentioned_at,
        mentioned_at as known_at,
        _batch_id as batch_id,
        _loaded_at as loaded_at
    from deduplicated
    where load_rank = 1

)

select * from final
