with

source as (

    select * from {{ source('raw', 'subscriptions') }}

),

-- Re-exports repeat a key: keep the row from the latest load.
deduplicated as (

    select
        *,
        row_number() over (
            partition by subscription_id
            order by _loaded_at desc nulls last, _row_number desc nulls last
        ) as load_rank
    from source

),

final as (

    select
        subscription_id,
        account_id,
        plan,
        seats,
        mrr,
        coalesce(arr, 12 * mrr) as arr,
        upper(trim(currency)) as currency,
        start_date,
        end_date,
        renewal_date,
        lower(trim(status)) as status,
        discount_pct,
        cast(start_date as timestamp) as known_at,
        _batch_id as batch_id,
        _loaded_at as loaded_at
    from deduplicated
    where load_rank = 1

)

select * from final
