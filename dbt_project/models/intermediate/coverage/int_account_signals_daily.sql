{{ config(materialized='table') }}

-- The newest social mention and outcome known per account and as_of_date; the other
-- domains carry their own latest-known dates. Together: days_since_last_signal.
with

dated as (

    select
        account_id,
        'last_mention_known_date' as measure,
        {{ to_date('known_at') }} as known_from,
        {{ to_date('known_at') }} as value
    from {{ ref('stg_social__mentions') }}

    union all

    select
        account_id,
        'last_outcome_known_date' as measure,
        {{ to_date('known_at') }} as known_from,
        {{ to_date('known_at') }} as value
    from {{ ref('stg_crm__outcomes') }}

),

{{ accumulate_latest_dates('dated', ['last_mention_known_date', 'last_outcome_known_date']) }},

final as (

    select * from dated_accumulated

)

select * from final
