-- The current version of every account (stg_crm__account_versions: the latest load wins).
with

versions as (

    select * from {{ ref('stg_crm__account_versions') }}

),

final as (

    select
        account_id,
        account_name,
        industry,
        segment,
        country,
        owner,
        created_at,
        parent_account_id,
        created_at as known_at,
        batch_id,
        loaded_at
    from versions
    where is_current

)

select * from final
