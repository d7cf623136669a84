{{ config(materialized='table') }}

{#- One row: the first and last as_of_date to build, and the load watermark the build
    covers (inputs_loaded_through: the latest _loaded_at among the records read).

    Vars as_of_start / as_of_end (ISO dates) win: a partitioned run or a backfill builds
    exactly that range (on an empty mart, the year before it too). Without them the end is the latest date a record became known
    (accounts, subscriptions, outcomes and overrides can be dated ahead: contract terms,
    scheduled churn, so they do not move the range), and the start is:
    - first build, or --full-refresh: 364 days before the end, or the earliest known date
      if that is later;
    - incremental build (the feature mart already exists): the day after the last built
      as_of_date, or earlier when records loaded since the last build are known on an
      earlier date (a late-arriving file restates the days it changes, and only those).
      Nothing new loaded and nothing new to build: an empty range, the mart is unchanged.
    Without any event record (a snapshot-only dataset) the end is the latest export's known
    date (issue 19: a snapshot builds its own date, no invented events).
    Var reference_date (ISO date; the pipeline passes today, or HEALTHSCORE_REFERENCE_DATE):
    the end never passes it, so a record dated in the future cannot move the scores' date
    (the loader quarantines those; this holds for rows that reached raw another way).
    docs/operations.md ("Incremental runs") explains what this covers and what needs a backfill. -#}
{%- set as_of_start = var('as_of_start', none) -%}
{%- set as_of_end = var('as_of_end', none) -%}
{%- set reference_date = var('reference_date', none) -%}
{%- set event_models = [
    'stg_product__usage_events', 'stg_support__tickets', 'stg_surveys__responses',
    'stg_billing__invoices', 'stg_crm__account_notes', 'stg_social__mentions',
    'stg_metrics__account_metrics',
] -%}
{%- set all_models = event_models + [
    'stg_crm__accounts', 'stg_billing__subscriptions', 'stg_crm__outcomes',
] -%}
{#- Current-state exports with history: a version loaded since the last build changes the
    features from its load date (valid_from), so those days are rebuilt. -#}
{%- set history_models = ['stg_crm__account_versions', 'stg_billing__subscription_versions'] -%}
{%- set mart = none -%}
{%- if execute and not flags.FULL_REFRESH -%}
    {%- set candidate = adapter.get_relation(
        database=this.database,
        schema=generate_schema_name('marts', none),
        identifier='fct_account_features_daily',
    ) -%}
    {%- if candidate is not none
        and 'inputs_loaded_through' in (adapter.get_columns_in_relation(candidate) | map(attribute='name') | list) -%}
        {%- set mart = candidate -%}
    {%- endif -%}
{%- endif %}

with

built as (

    {% if mart is not none -%}
    select
        max(as_of_date) as built_through,
        max(inputs_loaded_through) as loaded_through
    from {{ mart }}
    {%- else -%}
    select
        cast(null as date) as built_through,
        cast(null as {{ dbt.type_timestamp() }}) as loaded_through
    {%- endif %}

),

known_dates as (

    {% for model in event_models -%}
    select
        min(known_at) as first_known_at,
        max(known_at) as last_known_at,
        min(case when built.loaded_through is null or loaded_at > built.loaded_through then known_at end)
            as first_new_known_at
    from {{ ref(model) }}
    cross join built
    union all
    {% endfor -%}
    {% for model in history_models -%}
    select
        cast(null as {{ dbt.type_timestamp() }}) as first_known_at,
        cast(null as {{ dbt.type_timestamp() }}) as last_known_at,
        min(
            case
                when
                    (built.loaded_through is null or loaded_at > built.loaded_through)
                    and valid_from > cast('1900-01-01' as date)
                    then cast(valid_from as {{ dbt.type_timestamp() }})
            end
        ) as first_new_known_at
    from {{ ref(model) }}
    cross join built
    {% if not loop.last %}union all
    {% endif %}
    {%- endfor %}

),

loads as (

    {% for model in all_models -%}
    select max(loaded_at) as last_loaded_at from {{ ref(model) }}
    {% if not loop.last %}union all
    {% endif %}
    {%- endfor %}

),

-- A snapshot-only dataset (no event source has any record: one current-state export per
-- customer) ends on the snapshot's own date: the day its latest export became known.
snapshots as (

    {% for model in history_models -%}
    select max(known_from) as snapshot_date from {{ ref(model) }}
    {% if not loop.last %}union all
    {% endif %}
    {%- endfor %}

),

data_range as (

    select
        {{ to_date('min(first_known_at)') }} as first_known_date,
        coalesce(
            {{ to_date('max(last_known_at)') }},
            (select max(snapshot_date) from snapshots)
        ) as last_known_date,
        {{ to_date('min(first_new_known_at)') }} as first_new_known_date
    from known_dates

),

ends as (

    select
        data_range.first_known_date,
        data_range.first_new_known_date,
        built.built_through,
        {% set end = "cast('" ~ as_of_end ~ "' as date)" if as_of_end else 'data_range.last_known_date' -%}
        {% if reference_date -%}
        case
            when {{ end }} > cast('{{ reference_date }}' as date) then cast('{{ reference_date }}' as date)
            else {{ end }}
        end as as_of_end
        {%- else -%}
        {{ end }} as as_of_end
        {%- endif %}
    from data_range
    cross join built

),

final as (

    select
        {% if as_of_start -%}
        -- a range on an empty mart (a first partitioned run) also builds the year before it
        case
            when built_through is null
                then least(
                    cast('{{ as_of_start }}' as date),
                    greatest({{ add_days('as_of_end', -364) }}, coalesce(first_known_date, as_of_end))
                )
            else cast('{{ as_of_start }}' as date)
        end as as_of_start,
        {%- else -%}
        case
            when built_through is null
                then greatest({{ add_days('as_of_end', -364) }}, coalesce(first_known_date, as_of_end))
            else greatest(
                {{ add_days('as_of_end', -364) }},
                coalesce(first_known_date, as_of_end),
                least(
                    {{ add_days('built_through', 1) }},
                    coalesce(first_new_known_date, {{ add_days('built_through', 1) }})
                )
            )
        end as as_of_start,
        {%- endif %}
        as_of_end,
        (select max(last_loaded_at) from loads) as inputs_loaded_through
    from ends

)

select * from final
