{#- The integers 0 .. upper_bound - 1 as column `n` (upper_bound <= 100000).
    No generate_series: it is not portable. DuckDB uses range(); the default
    cross-joins digits, which runs on Postgres, Spark and anything else. -#}
{% macro integer_sequence(upper_bound) -%}
    {{ return(adapter.dispatch('integer_sequence', 'healthscore')(upper_bound)) }}
{%- endmacro %}

{% macro duckdb__integer_sequence(upper_bound) -%}
    select cast(range as integer) as n from range(0, {{ upper_bound }})
{%- endmacro %}

{% macro default__integer_sequence(upper_bound) -%}
    {%- set places = (upper_bound | string | length) -%}
    with digits as (
        select 0 as d union all select 1 union all select 2 union all select 3 union all select 4
        union all select 5 union all select 6 union all select 7 union all select 8 union all select 9
    )
    select n from (
        select
            {% for place in range(places) -%}
            {{ ' + ' if not loop.first }}d{{ place }}.d * {{ 10 ** place }}
            {%- endfor %} as n
        from
            {% for place in range(places) -%}
            {{ ', ' if not loop.first }}digits as d{{ place }}
            {%- endfor %}
    ) as numbers
    where n < {{ upper_bound }}
{%- endmacro %}
