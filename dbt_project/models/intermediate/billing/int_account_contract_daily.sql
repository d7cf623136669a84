{{ config(materialized='table') }}

-- The account's primary contract on each as_of_date: among the terms active on D (start_date
-- <= D and (end_date is null or end_date >= D)), the one with the highest MRR, then the latest
-- start, then the lowest id. Its plan and term length are standard features; its custom
-- attributes become the account's (int_account_attributes_daily). Each term as known on D: the
-- version of the billing export loaded by then (macros/history.sql).
with

subscriptions as (

    select * from {{ ref('stg_billing__subscription_versions') }}

),

account_days as (

    select * from {{ ref('int_account_days') }}

),

active_terms as (

    select
        account_days.account_id,
        account_days.as_of_date,
        subscriptions.subscription_id,
        subscriptions.plan,
        subscriptions.arr,
        subscriptions.start_date,
        -- the term as contracted: to its renewal date; else to its end date, unless the term was
        -- cancelled (its end date is then the cancellation's, set at churn: an export loaded once
        -- also stands for the dates before it, where that end was not yet known)
        case
            when subscriptions.renewal_date is not null then subscriptions.renewal_date
            when subscriptions.status <> 'cancelled' then subscriptions.end_date
        end as term_end_date,
        row_number() over (
            partition by account_days.account_id, account_days.as_of_date
            order by
                subscriptions.mrr desc nulls last,
                subscriptions.start_date desc nulls last,
                subscriptions.subscription_id asc nulls last
        ) as term_rank,
        sum(subscriptions.arr) over (
            partition by account_days.account_id, account_days.as_of_date
        ) as total_arr
    from account_days
    inner join subscriptions
        on
            account_days.account_id = subscriptions.account_id
            and {{ known_on('subscriptions', 'account_days.as_of_date') }}
            and account_days.as_of_date >= subscriptions.start_date
            and (subscriptions.end_date is null or account_days.as_of_date <= subscriptions.end_date)

),

final as (

    select
        account_id,
        as_of_date,
        subscription_id as primary_subscription_id,
        plan,
        -- whole months from start to end (or renewal), e.g. 1, 12, 24; null when open-ended
        cast(
            round(cast({{ days_between('start_date', 'term_end_date') }} as {{ type_double() }}) / 30.4375)
            as {{ dbt.type_int() }}
        ) as contract_term_months,
        {{ round_money('total_arr') }} as arr
    from active_terms
    where term_rank = 1

)

select * from final
