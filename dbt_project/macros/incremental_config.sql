{#- How an incremental model replaces the rows it rebuilds, per engine: the model's
    config(**incremental_replace('as_of_date')).
    DuckDB and PostgreSQL: delete+insert on the key. Spark's Parquet tables have no DELETE:
    a date key becomes the partition column and the rebuilt partitions are overwritten
    (insert_overwrite, dynamic); any other key (one row per event) rebuilds the table. -#}
{% macro incremental_replace(key) -%}
    {{ return(adapter.dispatch('incremental_replace', 'healthscore')(key)) }}
{%- endmacro %}

{% macro default__incremental_replace(key) -%}
    {{ return({'materialized': 'incremental', 'incremental_strategy': 'delete+insert', 'unique_key': key}) }}
{%- endmacro %}

{% macro spark__incremental_replace(key) -%}
    {%- if key.endswith('_date') -%}
        {{ return({'materialized': 'incremental', 'incremental_strategy': 'insert_overwrite',
                   'partition_by': [key], 'file_format': 'parquet'}) }}
    {%- else -%}
        {{ return({'materialized': 'table', 'file_format': 'parquet'}) }}
    {%- endif -%}
{%- endmacro %}
