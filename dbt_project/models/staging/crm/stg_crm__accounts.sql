with

source as (

    select * from {{ source('raw', 'accounts') }}

),

-- Re-exports repeat a key: keep the row from the latest load.
deduplicated as (

    select
        *,
        row_number() over (
            partition by account_id
            order by _loaded_at desc nulls last, _row_number desc nulls last
        ) as load_rank
    from source

),

final as (

    select
        account_id,
        account_name,
        industry,
        case lower(trim(segment))
            when 'smb' then 'SMB'
            when 'mid-market' then 'Mid-Market'
            when 'enterprise' then 'Enterprise'
            else trim(segment)
        end as segment,
        country,
        owner,
        created_at,
        parent_account_id,
        created_at as known_at,
        _batch_id as batch_id,
        _loaded_at as loaded_at
    from deduplicated
    where load_rank = 1

)

select * from final
