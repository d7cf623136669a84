{#- The feature grain's join condition: the same account on the same as_of_date. -#}
{% macro same_account_day(left, right) -%}
    {{ left }}.account_id = {{ right }}.account_id and {{ left }}.as_of_date = {{ right }}.as_of_date
{%- endmacro %}
