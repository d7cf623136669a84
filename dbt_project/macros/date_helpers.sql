{#- Date arithmetic that returns dates on every engine (dbt.dateadd returns a timestamp on some). -#}
{% macro add_days(date_expression, days) -%}
    cast({{ dbt.dateadd('day', days, date_expression) }} as date)
{%- endmacro %}

{% macro days_between(start_date, end_date) -%}
    {{ dbt.datediff(start_date, end_date, 'day') }}
{%- endmacro %}

{#- The date part of a timestamp. -#}
{% macro to_date(timestamp_expression) -%}
    cast({{ timestamp_expression }} as date)
{%- endmacro %}

{#- a / b as a float, null when b is 0 or null. -#}
{% macro safe_divide(numerator, denominator) -%}
    cast({{ numerator }} as {{ type_double() }})
        / nullif(cast({{ denominator }} as {{ type_double() }}), 0)
{%- endmacro %}

{#- Percent change from previous to current, null when previous is 0 or null. -#}
{% macro pct_change(current, previous) -%}
    100.0 * (cast({{ current }} as {{ type_double() }}) - cast({{ previous }} as {{ type_double() }}))
        / nullif(cast({{ previous }} as {{ type_double() }}), 0)
{%- endmacro %}

{#- Money from a running float sum: rounded to cents, so +x then -x nets to exactly 0. -#}
{% macro round_money(amount) -%}
    cast(round(cast({{ amount }} as decimal(18, 4)), 2) as {{ type_double() }})
{%- endmacro %}
