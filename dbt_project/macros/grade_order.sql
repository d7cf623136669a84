{#- Sort order of a grade, worst first: red 1, yellow 2, green 3, insufficient_data 4, churned 5.
    `order by grade_order, health_score` lists the most at-risk accounts first (an override can
    make an account red whatever its score). -#}
{% macro grade_order(grade) -%}
    case {{ grade }}
        when 'red' then 1
        when 'yellow' then 2
        when 'green' then 3
        when 'insufficient_data' then 4
        when 'churned' then 5
    end
{%- endmacro %}

{#- True when `relation` has every column of `names` (an incremental model restates its whole
    table when an upgrade added a column: older rows would keep nulls in it otherwise). -#}
{% macro columns_present(relation, names) -%}
    {%- set existing = adapter.get_columns_in_relation(relation) | map(attribute='name') | map('lower') | list -%}
    {{ return(names | reject('in', existing) | list | length == 0) }}
{%- endmacro %}
