-- One row per account, current state (the CRM does not historise attributes).
with

accounts as (

    select * from {{ ref('stg_crm__accounts') }}

),

final as (

    select
        account_id,
        parent_account_id,
        account_name,
        segment,
        industry,
        country,
        owner,
        created_at,
        {{ to_date('created_at') }} as created_date,
        parent_account_id is not null as is_subsidiary
    from accounts

)

select * from final
