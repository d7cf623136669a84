-- depends_on: {{ ref('int_as_of_range') }}
-- depends_on: {{ ref('int_account_as_of_spans') }}
-- depends_on: {{ ref('stg_metrics__account_metrics') }}
-- depends_on: {{ ref('stg_product__usage_events') }}
{{ config(materialized='table') }}

{#- Custom metrics (docs/features.md): per declared metric and window w (days),
    metric_<name>__sum_<w>d / __avg_<w>d: sum / mean of the values measured in the w days ending
    as_of_date and known by then; metric_<name>__latest: the most recent value known by then;
    metric_<name>__change_<w>d: latest minus the latest known w days earlier.
    Values come from account_metrics (metric = the declared origin) and from usage events (the
    quantity of the usage feature = the origin, summed per event day and arrival day).

    Only what can still change a day of the build range (int_as_of_range) is read in detail: a
    measurement counts toward a window for w days after it was measured, so one measured and
    known more than the longest window before the range starts matters only through the latest
    values. Those collapse into one row per account and metric (the greatest latest-value key;
    known before the range, so it counts from its first day on, as each of them would). A daily
    run then handles the last few months of measurements, not the whole history. -#}
{%- set metrics = declared_features('metric') -%}
{%- set lookback = [0] -%}
{%- for metric in metrics -%}
    {%- for w in metric.windows if w > lookback[-1] -%}
        {%- do lookback.append(w) -%}
    {%- endfor -%}
{%- endfor %}

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

as_of_range as (

    select * from {{ ref('int_as_of_range') }}

),

all_measurements as (

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

-- History: measured and known more than the longest window ({{ lookback[-1] }} days) before the range
-- starts; it adds nothing to a window of the range, only its latest value can still show.
dated_measurements as (

    select
        all_measurements.*,
        coalesce(
            all_measurements.measured_date < {{ add_days('as_of_range.as_of_start', -lookback[-1]) }}
            and all_measurements.known_date < {{ add_days('as_of_range.as_of_start', -lookback[-1]) }},
            false
        ) as is_history
    from all_measurements
    cross join as_of_range

),

measurements as (

    select account_id, metric, measured_date, known_date, measured_at, value
    from dated_measurements
    where not is_history

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
{%- set latest_key = dbt.concat([
    "cast(" ~ dbt.date_trunc('second', 'measured_at') ~ " as " ~ dbt.type_string() ~ ")",
    "'|'",
    "cast(value as " ~ dbt.type_string() ~ ")",
]) %}
keyed as (

    select
        account_id,
        metric,
        greatest(measured_date, known_date) as known_from,
        {{ latest_key }} as latest_key
    from measurements

    union all

    -- the history's latest value per account and metric (known before the range: w days
    -- later still before it)
    select
        account_id,
        metric,
        max(greatest(measured_date, known_date)) as known_from,
        max({{ latest_key }}) as latest_key
    from dated_measurements
    where is_history
    group by account_id, metric

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
