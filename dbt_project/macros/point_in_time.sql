{#-
    Point-in-time accumulation over the account x as_of_date spine, without range joins.

    A record that counts toward as_of_date D for every D in [valid_from, valid_until)
    becomes +amount at valid_from and -amount at valid_until; a running sum of those
    deltas per account gives the value on every day. Deltas before an account's first
    as_of_date pile up on that date, deltas after the last one are dropped. This turns
    "count records in a rolling window, known by D" into one sort per account.
-#}

{#- intervals: a CTE with account_id, measure, valid_from (date), valid_until (date,
    exclusive; null: open-ended), amount. Emits CTEs <intervals>_deltas, <intervals>_daily
    and <intervals>_accumulated (account_id, as_of_date, one float column per measure).
    dated, latest_measures (optional): a CTE as accumulate_latest_dates takes (values of type
    value_type, dates by default) and its measures, accumulated in the same pass: their columns join <intervals>_accumulated,
    so that a domain pays one spine join and one sort for both kinds. -#}
{% macro accumulate_intervals(intervals, measures, dated=none, latest_measures=[], wide=false, value_type='date') -%}
{%- if wide %}
{{ accumulate_wide_intervals(intervals, measures) }}
{%- else %}
{{ intervals }}_deltas as (

    select
        account_id,
        measure,
        valid_from as change_date,
        cast(amount as {{ type_double() }}) as delta
        {%- if dated %},
        cast(null as {{ value_type }}) as value
        {%- endif %}
    from {{ intervals }}
    where valid_until is null or valid_from < valid_until

    union all

    select
        account_id,
        measure,
        valid_until as change_date,
        -1.0 * cast(amount as {{ type_double() }}) as delta
        {%- if dated %},
        cast(null as {{ value_type }}) as value
        {%- endif %}
    from {{ intervals }}
    where valid_until is not null and valid_from < valid_until
    {%- if dated %}

    union all

    select
        account_id,
        measure,
        known_from as change_date,
        cast(null as {{ type_double() }}) as delta,
        value
    from {{ dated }}
    {%- endif %}

),

{{ per_account_day(intervals, intervals ~ '_deltas', 'deltas', 'change_date', measures, latest_measures if dated else []) }}
{%- endif %}
{%- endmacro %}


{#- wide=true: `intervals` has account_id, valid_from, valid_until and one amount column per
    measure (records that share a window share a row), instead of a measure and an amount. -#}
{% macro accumulate_wide_intervals(intervals, measures) -%}
{{ intervals }}_deltas as (

    select
        account_id,
        valid_from as change_date,
        {%- for measure in measures %}
        cast({{ measure }} as {{ type_double() }}) as {{ measure }}{{ ',' if not loop.last }}
        {%- endfor %}
    from {{ intervals }}
    where valid_until is null or valid_from < valid_until

    union all

    select
        account_id,
        valid_until as change_date,
        {%- for measure in measures %}
        -1.0 * cast({{ measure }} as {{ type_double() }}) as {{ measure }}{{ ',' if not loop.last }}
        {%- endfor %}
    from {{ intervals }}
    where valid_until is not null and valid_from < valid_until

),

{{ per_account_day(intervals, intervals ~ '_deltas', 'deltas', 'change_date', measures, [], pivot=false) }}
{%- endmacro %}


{#- dated: a CTE with account_id, measure, known_from (date the record became known)
    and value (a date). Emits <dated>_daily and <dated>_accumulated: per account and
    as_of_date, the greatest value among records known by then (null: none yet). -#}
{% macro accumulate_latest_dates(dated, measures) -%}
{{ per_account_day(dated, dated, 'dated', 'known_from', [], measures) }}
{%- endmacro %}


{#- The two steps both accumulations share. `<name>_daily`: the records of `source` (alias
    `alias`, one row per account_id, measure and `date_column`) per account and as_of_date, the
    dates before an account's first as_of_date piled up on it, those after its last dropped.
    `<name>_accumulated`: per account over every as_of_date of int_account_days, a running total
    of `delta` for each of `sum_measures` and a running greatest of `value` for each of
    `max_measures`, all in one window pass. pivot=false: `source` has one column per measure
    (deltas to sum) instead of measure / delta / value rows. -#}
{% macro per_account_day(name, source, alias, date_column, sum_measures, max_measures, pivot=true) -%}
{%- set measures = sum_measures | map('string') | list + max_measures | map('string') | list %}
{{ name }}_daily as (

    select
        {{ alias }}.account_id,
        greatest({{ alias }}.{{ date_column }}, spans.first_as_of_date) as as_of_date,
        {%- for measure in measures %}
        {%- if not pivot %}
        sum({{ alias }}.{{ measure }}) as {{ measure }}
        {%- elif measure in sum_measures %}
        sum(case when {{ alias }}.measure = '{{ measure }}' then {{ alias }}.delta else 0 end) as {{ measure }}
        {%- else %}
        max(case when {{ alias }}.measure = '{{ measure }}' then {{ alias }}.value end) as {{ measure }}
        {%- endif %}
        {{- ',' if not loop.last }}
        {%- endfor %}
    from {{ source }} as {{ alias }}
    inner join {{ ref('int_account_as_of_spans') }} as spans
        on {{ alias }}.account_id = spans.account_id
    where {{ alias }}.{{ date_column }} <= spans.last_as_of_date
    group by
        {{ alias }}.account_id,
        greatest({{ alias }}.{{ date_column }}, spans.first_as_of_date)

),

{{ name }}_accumulated as (

    select
        account_days.account_id,
        account_days.as_of_date,
        {%- for measure in measures %}
        {{ 'sum(coalesce(daily.' ~ measure ~ ', 0))' if measure in sum_measures else 'max(daily.' ~ measure ~ ')' }} over (
            partition by account_days.account_id
            order by account_days.as_of_date
            rows between unbounded preceding and current row
        ) as {{ measure }}
        {{- ',' if not loop.last }}
        {%- endfor %}
    from {{ ref('int_account_days') }} as account_days
    left join {{ name }}_daily as daily
        on
            account_days.account_id = daily.account_id
            and account_days.as_of_date = daily.as_of_date

)
{%- endmacro %}


{#- Merge overlapping or adjacent coverage intervals (covered_from, covered_to: inclusive
    dates) per partition into disjoint islands, so that counting island starts and ends
    counts each member once. One ordered pass over all intervals marks the island edges: an
    interval starts an island when it begins after everything before it ended (+1 day), and ends
    one when the next begins after everything up to it ended. A second pass, over those edge rows
    only, pairs each start with its end. Emits <intervals>_ordered, _edges and _merged. -#}
{% macro merge_coverage_intervals(intervals, partition_by) -%}
{%- set partition = partition_by | join(', ') %}
{{ intervals }}_ordered as (

    select
        {{ partition_by | join(',\n        ') }},
        covered_from,
        covered_to,
        max(covered_to) over (
            partition by {{ partition }}
            order by covered_from, covered_to
            rows between unbounded preceding and 1 preceding
        ) as previous_covered_to,
        lead(covered_from) over (
            partition by {{ partition }}
            order by covered_from, covered_to
        ) as next_covered_from
    from {{ intervals }}

),

{{ intervals }}_edges as (

    select
        {{ partition_by | join(',\n        ') }},
        covered_from,
        covered_to,
        previous_covered_to is null
        or covered_from > {{ add_days('previous_covered_to', 1) }} as is_island_start,
        -- greatest() skips nulls on DuckDB, Postgres and Spark
        greatest(previous_covered_to, covered_to) as covered_through
    from {{ intervals }}_ordered
    where
        previous_covered_to is null
        or covered_from > {{ add_days('previous_covered_to', 1) }}
        or next_covered_from is null
        or next_covered_from > {{ add_days('greatest(previous_covered_to, covered_to)', 1) }}

),

{{ intervals }}_merged as (

    -- an island's start row, and its end: the start row itself, or the next edge row
    select
        {{ partition_by | join(',\n        ') }},
        covered_from,
        covered_to
    from (
        select
            {{ partition_by | join(',\n            ') }},
            covered_from,
            is_island_start,
            case
                when next_is_island_start is null or next_is_island_start then covered_through
                else next_covered_through
            end as covered_to
        from (
            select
                {{ partition_by | join(',\n                ') }},
                covered_from,
                is_island_start,
                covered_through,
                lead(is_island_start) over (
                    partition by {{ partition }}
                    order by covered_from, covered_to
                ) as next_is_island_start,
                lead(covered_through) over (
                    partition by {{ partition }}
                    order by covered_from, covered_to
                ) as next_covered_through
            from {{ intervals }}_edges
        ) as paired
    ) as islands
    where is_island_start

)
{%- endmacro %}
