-- depends_on: {{ ref('int_account_as_of_spans') }}
-- depends_on: {{ ref('stg_metrics__account_metrics') }}
-- depends_on: {{ ref('stg_product__usage_events') }}
{{ config(materialized='table') }}

{#- Custom metrics (docs/features.md): per declared metric and window w (days),
    metric_<name>__sum_<w>d / __avg_<w>d: sum / mean of the values measured in the w days ending
    as_of_date and known by then; metric_<name>__latest: the most recent value known by then;
    metric_<name>__change_<w>d: latest minus the latest known w days earlier.
    Values come from account_metrics (metric = the declared origin) and from usage events (the
    quantity of the usage feature = the origin, summed per event day and arrival day). -#}
{%- set metrics = declared_features('metric') -%}

with

account_days as (

    select * from {{ ref('int_account_days') }}

){% if metrics %},

declared as (

    {% for metric in metrics -%}
    select
        {{ sql_literal(metric.source) }} as source,
        {{ sql_literal(metric.name) }} as metric,
        {{ sql_literal(metric.origin) }} as origin
    {% if not loop.last %}union all
    {% endif %}
    {%- endfor %}

),

measurements as (

    select
        account_metrics.account_id,
        declared.metric,
        {{ to_date('account_metrics.measured_at') }} as measured_date,
        {{ to_date('account_metrics.known_at') }} as known_date,
        cast(account_metrics.measured_at as {{ dbt.type_timestamp() }}) as measured_at,
        cast(account_metrics.value as {{ type_double() }}) as value
    from {{ ref('stg_metrics__account_metrics') }} as account_metrics
    inner join declared
        on declared.source = 'account_metrics' and account_metrics.metric = declared.origin

    union all

    select
        usage_events.account_id,
        declared.metric,
        {{ to_date('usage_events.event_at') }} as measured_date,
        {{ to_date('usage_events.known_at') }} as known_date,
        cast({{ to_date('usage_events.event_at') }} as {{ dbt.type_timestamp() }}) as measured_at,
        sum(cast(usage_events.quantity as {{ type_double() }})) as value
    from {{ ref('stg_product__usage_events') }} as usage_events
    inner join declared
        on declared.source = 'usage_events' and usage_events.feature = declared.origin
    group by
        usage_events.account_id,
        declared.metric,
        {{ to_date('usage_events.event_at') }},
        {{ to_date('usage_events.known_at') }}

),

-- a measurement counts toward the window ending D when measured in it and known by D
intervals as (

    {% for metric in metrics -%}
    {%- for w in metric.windows -%}
    select
        account_id,
        '{{ metric.name }}__sum_{{ w }}d' as measure,
        greatest(measured_date, known_date) as valid_from,
        {{ add_days('measured_date', w) }} as valid_until,
        value as amount
    from measurements
    where metric = {{ sql_literal(metric.name) }}

    union all

    select
        account_id,
        '{{ metric.name }}__count_{{ w }}d' as measure,
        greatest(measured_date, known_date) as valid_from,
        {{ add_days('measured_date', w) }} as valid_until,
        1 as amount
    from measurements
    where metric = {{ sql_literal(metric.name) }}
    {% if not loop.last %}union all
    {% endif %}
    {%- endfor %}
    {% if not loop.last %}union all
    {% endif %}
    {%- endfor %}

),

-- The latest value as a sortable key: measured instant, then the value (max picks the newest;
-- equal instants are one measurement after staging's dedupe). Shifted by w days, the same
-- running max gives the latest value known w days before.
keyed as (

    select
        account_id,
        metric,
        greatest(measured_date, known_date) as known_from,
        {{ dbt.concat([
            "cast(" ~ dbt.date_trunc('second', 'measured_at') ~ " as " ~ dbt.type_string() ~ ")",
            "'|'",
            "cast(value as " ~ dbt.type_string() ~ ")",
        ]) }} as latest_key
    from measurements

),

dated as (

    {% for metric in metrics -%}
    select
        account_id,
        '{{ metric.name }}__latest_key' as measure,
        known_from,
        latest_key as value
    from keyed
    where metric = {{ sql_literal(metric.name) }}
    {%- for w in metric.windows if 'change' in metric.aggregations %}

    union all

    select
        account_id,
        '{{ metric.name }}__latest_key_{{ w }}d_ago' as measure,
        {{ add_days('known_from', w) }} as known_from,
        latest_key as value
    from keyed
    where metric = {{ sql_literal(metric.name) }}
    {%- endfor %}
    {% if not loop.last %}union all
    {% endif %}
    {%- endfor %}

),

{%- set window_measures = [] -%}
{%- set latest_measures = [] -%}
{%- for metric in metrics -%}
    {%- for w in metric.windows -%}
        {%- do window_measures.append(metric.name ~ '__sum_' ~ w ~ 'd') -%}
        {%- do window_measures.append(metric.name ~ '__count_' ~ w ~ 'd') -%}
    {%- endfor -%}
    {%- do latest_measures.append(metric.name ~ '__latest_key') -%}
    {%- for w in metric.windows if 'change' in metric.aggregations -%}
        {%- do latest_measures.append(metric.name ~ '__latest_key_' ~ w ~ 'd_ago') -%}
    {%- endfor -%}
{%- endfor %}

{{ accumulate_intervals(
    'intervals', window_measures, dated='dated', latest_measures=latest_measures, value_type=dbt.type_string(),
) }}{% endif %},

final as (

    select
        account_days.account_id,
        account_days.as_of_date
        {%- for metric in metrics %}
        {%- set latest = "cast(" ~ dbt.split_part("windows." ~ metric.name ~ "__latest_key", "'|'", 2) ~ " as " ~ type_double() ~ ")" %}
        {%- for w in metric.windows %}
        {%- if 'sum' in metric.aggregations %},
        -- null until the first value is known; a running float sum, rounded so that +x then -x
        -- nets to exactly 0
        case
            when windows.{{ metric.name }}__latest_key is not null
                then cast(round(cast(windows.{{ metric.name }}__sum_{{ w }}d as decimal(38, 6)), 6) as {{ type_double() }})
        end as metric_{{ metric.name }}__sum_{{ w }}d
        {%- endif %}
        {%- if 'avg' in metric.aggregations %},
        case
            when windows.{{ metric.name }}__count_{{ w }}d > 0.5
                then windows.{{ metric.name }}__sum_{{ w }}d / windows.{{ metric.name }}__count_{{ w }}d
        end as metric_{{ metric.name }}__avg_{{ w }}d
        {%- endif %}
        {%- endfor %}
        {%- if 'latest' in metric.aggregations %},
        {{ latest }} as metric_{{ metric.name }}__latest
        {%- endif %}
        {%- for w in metric.windows if 'change' in metric.aggregations %},
        {{ latest }}
            - cast({{ dbt.split_part("windows." ~ metric.name ~ "__latest_key_" ~ w ~ "d_ago", "'|'", 2) }} as {{ type_double() }})
            as metric_{{ metric.name }}__change_{{ w }}d
        {%- endfor %}
        {%- endfor %}
    from account_days
    {%- if metrics %}
    inner join intervals_accumulated as windows
        on
            account_days.account_id = windows.account_id
            and account_days.as_of_date = windows.as_of_date
    {%- endif %}

)

select * from final
