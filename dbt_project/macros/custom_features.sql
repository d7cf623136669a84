{#- Custom attributes and metrics (docs/features.md): what the loader recorded in
    raw._feature_declarations from the mappings / <landing>/<source>/_features.yml.
    Read when the models run (not at parse time), so the feature columns follow the
    declarations without a new manifest. Names are checked again here: they become columns. -#}
{% macro declared_features(kind) -%}
    {%- if not execute -%}
        {{ return([]) }}
    {%- endif -%}
    {%- set relation = adapter.get_relation(
        database=source('raw', '_feature_declarations').database,
        schema=source('raw', '_feature_declarations').schema,
        identifier=source('raw', '_feature_declarations').identifier,
    ) -%}
    {%- if relation is none -%}
        {{ return([]) }}
    {%- endif -%}
    {%- set result = run_query(
        "select source, name, feature_type, origin, windows, aggregations, description from " ~ relation
        ~ " where kind = '" ~ kind ~ "' order by source, name"
    ) -%}
    {%- set declared = [] -%}
    {%- for row in result.rows -%}
        {%- if not modules.re.match('^[a-z][a-z0-9]*(_[a-z0-9]+)*$', row[1]) -%}
            {{ exceptions.raise_compiler_error("raw._feature_declarations: invalid " ~ kind ~ " name " ~ row[1]) }}
        {%- endif -%}
        {%- if row[2] not in ('categorical', 'numeric', 'boolean', 'date') -%}
            {{ exceptions.raise_compiler_error("raw._feature_declarations: invalid type " ~ row[2] ~ " of " ~ row[1]) }}
        {%- endif -%}
        {%- set windows = [] -%}
        {%- for w in (row[4] or '').split(',') if w | trim -%}
            {%- do windows.append(w | trim | int) -%}
        {%- endfor -%}
        {%- for earlier in declared if earlier.name == row[1] -%}
            {{ exceptions.raise_compiler_error(
                kind ~ " " ~ row[1] ~ " is declared by both " ~ earlier.source ~ " and " ~ row[0]
                ~ ": names must be unique (they become one column)") }}
        {%- endfor -%}
        {%- do declared.append({
            'source': row[0], 'name': row[1], 'type': row[2], 'origin': row[3],
            'windows': windows, 'aggregations': (row[5] or '').split(','), 'description': row[6] or '',
        }) -%}
    {%- endfor -%}
    {{ return(declared) }}
{%- endmacro %}

{#- A SQL string literal (declared origins are data, not SQL). -#}
{% macro sql_literal(value) -%}
    '{{ value | replace("'", "''") }}'
{%- endmacro %}

{#- The column type of a declared attribute. -#}
{% macro attribute_sql_type(feature_type) -%}
    {%- if feature_type == 'numeric' -%} {{ type_double() }}
    {%- elif feature_type == 'boolean' -%} {{ dbt.type_boolean() }}
    {%- elif feature_type == 'date' -%} date
    {%- else -%} {{ dbt.type_string() }}
    {%- endif -%}
{%- endmacro %}

{#- The custom feature columns the mart carries, as `, <cte>.<column>` (qualified) or
    `, <column>`: every column of int_account_attributes_daily, int_account_metrics_daily and the
    models in var('custom_feature_models') except the keys. Read from the built relations when the
    mart runs; a name used twice stops the build with the model named. -#}
{% macro custom_feature_columns(qualified) -%}
    {%- if execute -%}
        {%- set sources = [
            ('custom_attributes', ref('int_account_attributes_daily')),
            ('custom_metrics', ref('int_account_metrics_daily')),
        ] -%}
        {%- for model in var('custom_feature_models', []) -%}
            {%- do sources.append(('custom_' ~ loop.index, ref(model))) -%}
        {%- endfor -%}
        {%- set seen = {} -%}
        {%- for cte, relation in sources -%}
            {%- for column in adapter.get_columns_in_relation(relation) -%}
                {%- set name = column.name | lower -%}
                {%- if name not in ('account_id', 'as_of_date') -%}
                    {%- if name in seen -%}
                        {{ exceptions.raise_compiler_error(
                            "custom feature column " ~ name ~ " of " ~ relation ~ " is also a column of "
                            ~ seen[name] ~ ": rename it (docs/features.md)") }}
                    {%- endif -%}
                    {%- do seen.update({name: relation | string}) -%}
,
        {{ cte ~ '.' if qualified }}{{ adapter.quote(name) if not modules.re.match('^[a-z_][a-z0-9_]*$', name) else name }}
                {%- endif -%}
            {%- endfor -%}
        {%- endfor -%}
    {%- endif -%}
{%- endmacro %}
