{{ config(materialized='table') }}

-- Per account, the first and last as_of_date it gets a feature row for: from its
-- creation (or the start of the range) to the end of the range.
with

accounts as (

    select * from {{ ref('stg_crm__accounts') }}

),

as_of_range as (

    select * from {{ ref('int_as_of_range') }}

),

final as (

    select
        accounts.account_id,
        greatest(as_of_range.as_of_start, {{ to_date('accounts.known_at') }}) as first_as_of_date,
        as_of_range.as_of_end as last_as_of_date
    from accounts
    cross join as_of_range
    where
        {{ to_date('accounts.known_at') }} <= as_of_range.as_of_end
        and as_of_range.as_of_start <= as_of_range.as_of_end

)

select * from final
