-- depends_on: {{ ref('fct_account_features_daily') }}
{{ config(materialized='table') }}

{#- The feature catalog (docs/features.md): one row per column of fct_account_features_daily with
    its type, kind and description, so that scorecards and the learner can list what is
    available. Built from the mart's actual columns when it runs, the models' YAML descriptions
    and the declarations of custom attributes and metrics. -#}
{%- set catalog = [] -%}
{%- if execute -%}
    {%- set kinds = {
        'account_id': 'key', 'as_of_date': 'key',
        'is_churned': 'label', 'churned_on': 'label',
        'account_name': 'descriptive', 'owner': 'descriptive', 'parent_account_id': 'descriptive',
        'sentiment_top_negative': 'descriptive',
        'inputs_loaded_through': 'bookkeeping', 'has_usage_data': 'bookkeeping',
        'has_support_data': 'bookkeeping', 'has_survey_data': 'bookkeeping',
        'has_billing_data': 'bookkeeping', 'has_notes': 'bookkeeping',
    } -%}
    {%- set described = {} -%}
    {%- set custom_types = {} -%}
    {%- set custom_models = var('custom_feature_models', []) -%}
    {%- for node in graph.nodes.values() if node.resource_type == 'model' -%}
        {%- if node.name == 'fct_account_features_daily' or node.name in custom_models -%}
            {%- for column in node.columns.values() -%}
                {%- do described.update({column.name: (column.description or '', node.name)}) -%}
                {%- set declared_type = (column.meta or {}).get('feature_type') -%}
                {%- if node.name in custom_models -%}
                    {%- do custom_types.update({column.name: declared_type or ''}) -%}
                {%- endif -%}
            {%- endfor -%}
        {%- endif -%}
    {%- endfor -%}
    {%- set declared = {} -%}
    {%- for attribute in declared_features('attribute') -%}
        {%- do declared.update({'attr_' ~ attribute.name: (
            attribute.type, 'attribute', attribute.description, attribute.source ~ ' (declared attribute)'
        )}) -%}
    {%- endfor -%}
    {%- set aggregation_text = {
        'sum': 'sum of the values measured in the {w} days ending as_of_date',
        'avg': 'mean of the values measured in the {w} days ending as_of_date',
        'change': 'latest value minus the latest value known {w} days earlier',
    } -%}
    {%- for metric in declared_features('metric') -%}
        {%- set origin = metric.source ~ ' ' ~ metric.origin ~ ' (declared metric)' -%}
        {%- for w in metric.windows -%}
            {%- for aggregation in ('sum', 'avg', 'change') if aggregation in metric.aggregations -%}
                {%- do declared.update({'metric_' ~ metric.name ~ '__' ~ aggregation ~ '_' ~ w ~ 'd': (
                    'numeric', 'metric',
                    (metric.description ~ ': ' if metric.description else '')
                        ~ aggregation_text[aggregation] | replace('{w}', w | string),
                    origin
                )}) -%}
            {%- endfor -%}
        {%- endfor -%}
        {%- do declared.update({'metric_' ~ metric.name ~ '__latest': (
            'numeric', 'metric',
            (metric.description ~ ': ' if metric.description else '') ~ 'the most recent value known on as_of_date',
            origin
        )}) -%}
    {%- endfor -%}
    {%- for column in adapter.get_columns_in_relation(ref('fct_account_features_daily')) -%}
        {%- set name = column.name | lower -%}
        {%- set dtype = column.dtype | lower -%}
        {%- if 'bool' in dtype -%} {%- set warehouse_type = 'boolean' -%}
        {%- elif 'date' in dtype or 'time' in dtype -%} {%- set warehouse_type = 'date' -%}
        {%- elif 'char' in dtype or 'text' in dtype or 'string' in dtype -%} {%- set warehouse_type = 'categorical' -%}
        {%- else -%} {%- set warehouse_type = 'numeric' -%}
        {%- endif -%}
        {%- set description, model = described.get(name, ('', 'fct_account_features_daily')) -%}
        {%- if name in declared -%}
            {%- set feature_type, kind, description, origin = declared[name] -%}
        {%- elif name in custom_types and name not in kinds -%}
            {%- set feature_type, kind, origin = custom_types[name] or warehouse_type, 'custom', model -%}
        {%- else -%}
            {%- set kind = kinds.get(name, 'standard') -%}
            {%- set feature_type = 'key' if kind == 'key' else ('text' if name == 'sentiment_top_negative' else warehouse_type) -%}
            {%- set origin = 'fct_account_features_daily' -%}
        {%- endif -%}
        {%- do catalog.append({
            'name': name, 'type': feature_type, 'kind': kind, 'description': description, 'source': origin,
            'position': loop.index,
        }) -%}
    {%- endfor -%}
{%- endif %}

with

catalog as (

    {% for row in catalog -%}
    select
        {{ row.position }} as column_position,
        {{ sql_literal(row.name) }} as feature_name,
        {{ sql_literal(row.type) }} as feature_type,
        {{ sql_literal(row.kind) }} as feature_kind,
        {{ 'true' if row.kind in ('standard', 'attribute', 'metric', 'custom') else 'false' }} as is_feature,
        {{ sql_literal(row.description | replace('\n', ' ')) }} as description,
        {{ sql_literal(row.source) }} as source
    {% if not loop.last %}union all
    {% endif %}
    {%- else -%}
    select
        0 as column_position,
        {{ sql_literal('') }} as feature_name,
        {{ sql_literal('') }} as feature_type,
        {{ sql_literal('') }} as feature_kind,
        false as is_feature,
        {{ sql_literal('') }} as description,
        {{ sql_literal('') }} as source
    {%- endfor %}

),

final as (

    select * from catalog
    where feature_name <> ''

)

select * from final
order by column_position
