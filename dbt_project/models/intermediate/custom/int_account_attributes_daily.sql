-- depends_on: {{ ref('int_account_contract_daily') }}
-- depends_on: {{ source('raw', '_attribute_values') }}
-- depends_on: {{ ref('stg_crm__account_versions') }}
-- depends_on: {{ ref('stg_billing__subscription_versions') }}
{{ config(materialized='table') }}

{#- Custom attributes (docs/features.md): one column attr_<name> per declared attribute of
    accounts or subscriptions, with the value known on as_of_date. A later export that changes a
    value applies from when it became known; earlier dates keep the earlier value. Subscription
    attributes are those of the account's primary contract on the date (int_account_contract_daily). -#}
{%- set attributes = declared_features('attribute') -%}

with

account_days as (

    select * from {{ ref('int_account_days') }}

){% if attributes %},

attribute_values as (

    select * from {{ source('raw', '_attribute_values') }}

),

-- Every version of every record (the point-in-time history of current-state exports,
-- macros/history.sql): a batch's attribute values apply while its version is the one known.
version_spans as (

    select
        'accounts' as source,
        account_id as record_id,
        batch_id,
        valid_from,
        valid_to as valid_until
    from {{ ref('stg_crm__account_versions') }}

    union all

    select
        'subscriptions' as source,
        subscription_id as record_id,
        batch_id,
        valid_from,
        valid_to as valid_until
    from {{ ref('stg_billing__subscription_versions') }}

),

-- one row per record version with every attribute as a column (pivot before the date join:
-- a record has few versions, an account many days)
record_versions as (

    select
        version_spans.source,
        version_spans.record_id,
        version_spans.valid_from,
        version_spans.valid_until,
        {%- for attribute in attributes %}
        max(
            case
                when attribute_values.source = {{ sql_literal(attribute.source) }}
                    and attribute_values.name = {{ sql_literal(attribute.name) }}
                    then attribute_values.value
            end
        ) as {{ attribute.name }}{{ ',' if not loop.last }}
        {%- endfor %}
    from version_spans
    inner join attribute_values
        on
            version_spans.source = attribute_values.source
            and version_spans.record_id = attribute_values.record_id
            and version_spans.batch_id = attribute_values.batch_id
    group by
        version_spans.source,
        version_spans.record_id,
        version_spans.valid_from,
        version_spans.valid_until

),

contracts as (

    select * from {{ ref('int_account_contract_daily') }}

),

dated as (

    select
        account_days.account_id,
        account_days.as_of_date,
        {%- for attribute in attributes %}
        {%- set side = 'account_versions' if attribute.source == 'accounts' else 'subscription_versions' %}
        {{ side }}.{{ attribute.name }}{{ ',' if not loop.last }}
        {%- endfor %}
    from account_days
    left join record_versions as account_versions
        on
            account_versions.source = 'accounts'
            and account_days.account_id = account_versions.record_id
            and account_versions.valid_from <= account_days.as_of_date
            and (account_versions.valid_until is null or account_days.as_of_date < account_versions.valid_until)
    left join contracts
        on
            account_days.account_id = contracts.account_id
            and account_days.as_of_date = contracts.as_of_date
    left join record_versions as subscription_versions
        on
            subscription_versions.source = 'subscriptions'
            and contracts.primary_subscription_id = subscription_versions.record_id
            and subscription_versions.valid_from <= account_days.as_of_date
            and (
                subscription_versions.valid_until is null
                or account_days.as_of_date < subscription_versions.valid_until
            )

){% endif %},

final as (

    select
        account_days.account_id,
        account_days.as_of_date
        {%- for attribute in attributes %},
        {%- if attribute.type == 'boolean' %}
        case dated.{{ attribute.name }} when 'true' then true when 'false' then false end
        {%- else %}
        cast(dated.{{ attribute.name }} as {{ attribute_sql_type(attribute.type) }})
        {%- endif %} as attr_{{ attribute.name }}
        {%- endfor %}
    from account_days
    {%- if attributes %}
    inner join dated
        on
            account_days.account_id = dated.account_id
            and account_days.as_of_date = dated.as_of_date
    {%- endif %}

)

select * from final
