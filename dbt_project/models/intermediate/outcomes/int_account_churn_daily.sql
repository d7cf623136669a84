{{ config(materialized='table') }}

-- Churn state per account and as_of_date: churned when the latest churn, renewal or
-- expansion dated on or before D is a churn (a churn and a renewal on the same day: churn).
with

outcomes as (

    select
        outcome_id,
        account_id,
        outcome_type,
        outcome_date
    from {{ ref('stg_crm__outcomes') }}
    where outcome_type in ('churn', 'renewal', 'expansion')

),

account_days as (

    select * from {{ ref('int_account_days') }}

),

state_periods as (

    select
        account_id,
        outcome_type,
        outcome_date as valid_from,
        lead(outcome_date) over (
            partition by account_id
            order by outcome_date, case when outcome_type = 'churn' then 1 else 0 end, outcome_id
        ) as valid_until
    from outcomes

),

final as (

    select
        account_days.account_id,
        account_days.as_of_date,
        periods.outcome_date as churned_on
    from account_days
    inner join (
        select
            account_id,
            valid_from as outcome_date,
            valid_from,
            valid_until
        from state_periods
        where outcome_type = 'churn'
    ) as periods
        on
            account_days.account_id = periods.account_id
            and account_days.as_of_date >= periods.valid_from
            and (periods.valid_until is null or account_days.as_of_date < periods.valid_until)

)

select * from final
