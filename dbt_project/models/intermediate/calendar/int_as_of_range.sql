{{ config(materialized='table') }}

{#- One row: the first and last as_of_date to build. Vars as_of_start / as_of_end
    (ISO dates) win; null derives them from the data: the end is the latest date a
    record became known, the start 364 days before it or the earliest known date,
    whichever is later. Accounts, subscriptions, outcomes and overrides can be dated
    ahead (contract terms, scheduled churn), so they do not move the range. -#}
{%- set as_of_start = var('as_of_start', none) -%}
{%- set as_of_end = var('as_of_end', none) -%}

with

known_dates as (

    select min(known_at) as first_known_at, max(known_at) as last_known_at
    from {{ ref('stg_product__usage_events') }}
    union all
    select min(known_at), max(known_at) from {{ ref('stg_support__tickets') }}
    union all
    select min(known_at), max(known_at) from {{ ref('stg_surveys__responses') }}
    union all
    select min(known_at), max(known_at) from {{ ref('stg_billing__invoices') }}
    union all
    select min(known_at), max(known_at) from {{ ref('stg_crm__account_notes') }}
    union all
    select min(known_at), max(known_at) from {{ ref('stg_social__mentions') }}

),

data_range as (

    select
        {{ to_date('min(first_known_at)') }} as first_known_date,
        {{ to_date('max(last_known_at)') }} as last_known_date
    from known_dates

),

ends as (

    select
        first_known_date,
        {% if as_of_end -%}
        cast('{{ as_of_end }}' as date) as as_of_end
        {%- else -%}
        last_known_date as as_of_end
        {%- endif %}
    from data_range

),

final as (

    select
        {% if as_of_start -%}
        cast('{{ as_of_start }}' as date) as as_of_start,
        {%- else -%}
        greatest({{ add_days('as_of_end', -364) }}, coalesce(first_known_date, as_of_end)) as as_of_start,
        {%- endif %}
        as_of_end
    from ends

)

select * from final
