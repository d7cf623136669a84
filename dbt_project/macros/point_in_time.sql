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
    and <intervals>_accumulated (account_id, as_of_date, one float column per measure). -#}
{% macro accumulate_intervals(intervals, measures) -%}
{{ intervals }}_deltas as (

    select
        account_id,
        measure,
        valid_from as delta_date,
        cast(amount as {{ type_double() }}) as delta
    from {{ intervals }}
    where valid_until is null or valid_from < valid_until

    union all

    select
        account_id,
        measure,
        valid_until as delta_date,
        -1.0 * cast(amount as {{ type_double() }}) as delta
    from {{ intervals }}
    where valid_until is not null and valid_from < valid_until

),

{{ per_account_day(intervals, intervals ~ '_deltas', 'deltas', 'delta_date', measures, 'sum') }}
{%- endmacro %}


{#- dated: a CTE with account_id, measure, known_from (date the record became known)
    and value (a date). Emits <dated>_daily and <dated>_accumulated: per account and
    as_of_date, the greatest value among records known by then (null: none yet). -#}
{% macro accumulate_latest_dates(dated, measures) -%}
{{ per_account_day(dated, dated, 'dated', 'known_from', measures, 'max') }}
{%- endmacro %}


{#- The two steps both accumulations share. `<name>_daily`: the records of `source` (alias
    `alias`, one row per account_id, measure and `date_column`) per account and as_of_date, the
    dates before an account's first as_of_date piled up on it, those after its last dropped.
    `<name>_accumulated`: a running total (how='sum': of `delta`) or running greatest (how='max':
    of `value`) per account over every as_of_date of int_account_days. -#}
{% macro per_account_day(name, source, alias, date_column, measures, how) -%}
{{ name }}_daily as (

    select
        {{ alias }}.account_id,
        greatest({{ alias }}.{{ date_column }}, spans.first_as_of_date) as as_of_date,
        {%- for measure in measures %}
        {%- if how == 'sum' %}
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
        {{ 'sum(coalesce(daily.' ~ measure ~ ', 0))' if how == 'sum' else 'max(daily.' ~ measure ~ ')' }} over (
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
    counts each member once. Emits <intervals>_ordered, _numbered and _merged. -#}
{% macro merge_coverage_intervals(intervals, partition_by) -%}
{{ intervals }}_ordered as (

    select
        {{ partition_by | join(',\n        ') }},
        covered_from,
        covered_to,
        max(covered_to) over (
            partition by {{ partition_by | join(', ') }}
            order by covered_from, covered_to
            rows between unbounded preceding and 1 preceding
        ) as previous_covered_to
    from {{ intervals }}

),

{{ intervals }}_numbered as (

    select
        {{ partition_by | join(',\n        ') }},
        covered_from,
        covered_to,
        sum(
            case
                when previous_covered_to is null then 1
                when covered_from > {{ add_days('previous_covered_to', 1) }} then 1
                else 0
            end
        ) over (
            partition by {{ partition_by | join(', ') }}
            order by covered_from, covered_to
            rows between unbounded preceding and current row
        ) as island_number
    from {{ intervals }}_ordered

),

{{ intervals }}_merged as (

    select
        {{ partition_by | join(',\n        ') }},
        min(covered_from) as covered_from,
        max(covered_to) as covered_to
    from {{ intervals }}_numbered
    group by
        {{ partition_by | join(',\n        ') }},
        island_number

)
{%- endmacro %}
