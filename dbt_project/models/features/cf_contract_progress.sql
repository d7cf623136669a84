-- An example of your own feature model (docs/features.md): one row per (account_id,
-- as_of_date) of int_account_days, any number of feature columns. Use only what was known on
-- as_of_date: here a contract term counts from its start_date, as the billing export known on
-- that date described it (the version known then: macros/history.sql, known_on).
-- Copy this file, rename it, list it in dbt_project.yml under vars.custom_feature_models and
-- describe its columns in _features__models.yml.
with

account_days as (

    select * from {{ ref('int_account_days') }}

),

subscriptions as (

    select * from {{ ref('stg_billing__subscription_versions') }}

),

current_terms as (

    select
        account_days.account_id,
        account_days.as_of_date,
        max({{ days_between('subscriptions.start_date', 'account_days.as_of_date') }}) as days_into_term,
        max(
            cast({{ days_between('subscriptions.start_date', 'account_days.as_of_date') }} as {{ type_double() }})
            / nullif(
                cast({{ days_between('subscriptions.start_date', 'subscriptions.renewal_date') }} as {{ type_double() }}),
                0
            )
        ) as term_elapsed_share
    from account_days
    inner join subscriptions
        on
            account_days.account_id = subscriptions.account_id
            and {{ known_on('subscriptions', 'account_days.as_of_date') }}
            and subscriptions.start_date <= account_days.as_of_date
            and (subscriptions.end_date is null or account_days.as_of_date <= subscriptions.end_date)
    group by
        account_days.account_id,
        account_days.as_of_date

),

final as (

    select
        account_days.account_id,
        account_days.as_of_date,
        current_terms.days_into_term as cf_days_into_term,
        -- not least(): it skips nulls on DuckDB, PostgreSQL and Spark
        case
            when current_terms.term_elapsed_share > 1 then 1.0 else current_terms.term_elapsed_share
        end as cf_term_elapsed_share
    from account_days
    left join current_terms
        on
            account_days.account_id = current_terms.account_id
            and account_days.as_of_date = current_terms.as_of_date

)

select * from final
