{#- A contract data_type (written as DuckDB names in the YAML) as this engine spells it.
    Contracts are enforced on DuckDB, the reference engine; the cross-engine test checks that
    PostgreSQL and Spark publish the same columns (docs/scale-out.md). -#}
{% macro portable_type(data_type) -%}
    {%- set name = data_type | lower -%}
    {%- if target.type == 'duckdb' -%} {{ data_type }}
    {%- elif name == 'varchar' -%} {{ dbt.type_string() }}
    {%- elif name == 'double' -%} {{ type_double() }}
    {%- else -%} {{ data_type }}
    {%- endif -%}
{%- endmacro %}

{#- A 64-bit float on every engine. dbt.type_float() is `float`, which DuckDB reads as a 32-bit
    REAL (7 significant digits: features differed from PostgreSQL's and Spark's in the 6th). -#}
{% macro type_double() -%}
    {{ return(adapter.dispatch('type_double', 'healthscore')()) }}
{%- endmacro %}

{% macro default__type_double() -%} double {%- endmacro %}

{% macro postgres__type_double() -%} double precision {%- endmacro %}


{#- The body of a BI model before anything is published (dbt built without the scoring asset):
    empty, with the model's contract columns, so the model exists and keeps its contract. -#}
{% macro empty_with_contract_columns() -%}
select
    {%- for column in model.columns.values() %}
    cast(null as {{ portable_type(column.data_type) }}) as {{ column.name }}{{ "," if not loop.last }}
    {%- endfor %}
where false
{%- endmacro %}
