-- The current version of every subscription term (stg_billing__subscription_versions: the
-- latest load wins).
with

versions as (

    select * from {{ ref('stg_billing__subscription_versions') }}

),

final as (

    select
        subscription_id,
        account_id,
        plan,
        seats,
        mrr,
        arr,
        currency,
        start_date,
        end_date,
        renewal_date,
        status,
        discount_pct,
        cast(start_date as timestamp) as known_at,
        batch_id,
        loaded_at
    from versions
    where is_current

)

select * from final
