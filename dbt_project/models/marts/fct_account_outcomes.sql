-- One row per outcome (churn, renewal, downgrade, expansion): the labels that
-- scorecards are back-tested against.
with

outcomes as (

    select * from {{ ref('stg_crm__outcomes') }}

),

final as (

    select
        outcome_id,
        account_id,
        outcome_type,
        outcome_date,
        mrr_delta,
        reason,
        known_at
    from outcomes

)

select * from final
