{{ config(
    on_schema_change='append_new_columns',
    **incremental_replace('as_of_date')
) }}
-- Factor contributions behind every row of fct_health_scores (same score version per date).
{%- set factors = source('scores', 'health_score_factors') %}
{%- set health_scores = source('scores', 'health_scores') %}
{%- if execute and load_relation(factors) is none %}
-- Nothing published yet (dbt built without the scoring asset): empty, with the contract's columns.
{{ empty_with_contract_columns() }}
{%- else %}
with

-- Incremental: only the as_of dates scored by versions newer than this table's.
{%- set new_dates %}
        select distinct as_of_date from {{ health_scores }}
        where score_version > (select coalesce(max(score_version), 0) from {{ this }})
{%- endset %}
factors as (

    select * from {{ factors }}
    {% if is_incremental() -%}
    where as_of_date in ({{ new_dates }}
    )
    {%- endif %}

),

newest_versions as (

    select
        account_id,
        as_of_date,
        objective,
        max(score_version) as score_version
    from {{ health_scores }}
    {% if is_incremental() -%}
    where as_of_date in ({{ new_dates }}
    )
    {%- endif %}
    group by account_id, as_of_date, objective

),

final as (

    select
        factors.account_id,
        factors.as_of_date,
        factors.objective,
        factors.score_version,
        factors.factor,
        factors.factor_label,
        factors.factor_group,
        factors.owner as factor_owner,
        factors.feature,
        factors.raw_value,
        factors.raw_text,
        factors.factor_score,
        factors.nominal_weight,
        factors.weight,
        factors.contribution,
        factors.impact,
        factors.reason
    from factors
    inner join newest_versions
        on factors.account_id = newest_versions.account_id
        and factors.as_of_date = newest_versions.as_of_date
        and factors.objective = newest_versions.objective
        and factors.score_version = newest_versions.score_version

)

select * from final
{%- endif %}
