{#-
    Point-in-time history of current-state exports (slowly changing dimension, type 2).

    CRM and billing systems export their current state again and again (accounts,
    subscriptions). Every load is kept in raw; `scd2_versions` turns the loads of one raw
    table into one row per key and version (docs/operations.md, "Re-exports of current-state
    sources"):

    - a version is what one load day said about a key (several loads on a day: the latest;
      a key twice in one file: the file's last row). Identical consecutive versions are kept:
      an attribute held outside the raw table (keyed by batch_id) may change in any load;
    - known_from: the load date (_loaded_at, UTC), capped at var('reference_date') when given
      (data exported in the past: a later load counts as known on the reference date);
    - valid_from: known_from, except the key's first version, which also covers every earlier
      date (1900-01-01): nothing before the first load is known, and its export is the best
      knowledge of the past;
    - valid_to: the next version's valid_from (exclusive), null while current; is_current;
    - batch_id, row_number, loaded_at: the raw row the version comes from.

    Every column of the raw table is carried (the contract's and any other the table has),
    `expressions` replacing a column by a SQL expression over the raw columns (normalisation).
    `known_on(alias, date)` is the join predicate for the version known on a date.
-#}
{% macro scd2_versions(relation, key, expressions={}) -%}
{%- set metadata = ['_batch_id', '_source_file', '_file_checksum', '_row_number', '_loaded_at'] -%}
{%- set attributes = [] -%}
{%- if execute -%}
    {%- for column in adapter.get_columns_in_relation(relation) -%}
        {%- if column.name | lower not in metadata -%}
            {%- do attributes.append(column.name | lower) -%}
        {%- endif -%}
    {%- endfor -%}
{%- endif -%}
{%- if execute and attributes | length == 0 -%}
    {#- The raw table does not exist yet (a compile without a warehouse, e.g. the benchmark's
        bound): the columns the source declares (generated from the contract). -#}
    {%- for node in graph.sources.values() -%}
        {%- if node.identifier | lower == relation.identifier | lower
            and node.schema | lower == relation.schema | lower -%}
            {%- for column_name in node.columns -%}
                {%- if column_name | lower not in metadata -%}
                    {%- do attributes.append(column_name | lower) -%}
                {%- endif -%}
            {%- endfor -%}
        {%- endif -%}
    {%- endfor -%}
{%- endif -%}
{%- if key not in attributes -%}{%- do attributes.insert(0, key) -%}{%- endif -%}
{%- set reference_date = var('reference_date', none) -%}
{%- set load_date = to_date('_loaded_at') -%}
{%- if reference_date -%}
    {%- set load_date = "least(" ~ load_date ~ ", cast('" ~ reference_date ~ "' as date))" -%}
{%- endif -%}
with

loads as (

    select
        *,
        {{ load_date }} as known_from,
        row_number() over (
            partition by {{ key }}, {{ load_date }}
            order by _loaded_at desc nulls last, _batch_id desc nulls last, _row_number desc nulls last
        ) as rank_in_day
    from {{ relation }}
    where {{ key }} is not null

),

final as (

    select
        {%- for column in attributes %}
        {{ expressions.get(column, column) }} as {{ column }},
        {%- endfor %}
        known_from,
        case
            when row_number() over (partition by {{ key }} order by known_from nulls first) = 1
                then cast('1900-01-01' as date)
            else known_from
        end as valid_from,
        lead(known_from) over (partition by {{ key }} order by known_from nulls first) as valid_to,
        lead(known_from) over (partition by {{ key }} order by known_from nulls first) is null as is_current,
        _batch_id as batch_id,
        _row_number as row_number,
        _loaded_at as loaded_at
    from loads
    where rank_in_day = 1

)

select * from final
{%- endmacro %}


{#- The version of `alias` (a versions model) known on `date_expression`: a join predicate. -#}
{% macro known_on(alias, date_expression) -%}
    {{ alias }}.valid_from <= {{ date_expression }}
    and ({{ alias }}.valid_to is null or {{ date_expression }} < {{ alias }}.valid_to)
{%- endmacro %}


{#- The earlier of two exclusive ends, `until` and the version's valid_to (null: open-ended):
    clips a record's interval to the time its version was the one known. -#}
{% macro clip_to_version(until, valid_to='valid_to') -%}
    case
        when {{ valid_to }} is null then {{ until }}
        when {{ until }} is null or {{ valid_to }} < {{ until }} then {{ valid_to }}
        else {{ until }}
    end
{%- endmacro %}
