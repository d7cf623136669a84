{{ config(
    on_schema_change='append_new_columns',
    **incremental_replace('as_of_date')
) }}
-- Score history for trends: one row per account x as_of_date x objective, from the newest
-- score version that scored that date (a backfill restates older dates; the full
-- append-only history stays in scores.health_scores).
{%- set health_scores = source('scores', 'health_scores') %}
{%- if execute and load_relation(health_scores) is none %}
-- Nothing published yet (dbt built without the scoring asset): empty, with the contract's columns.
{{ empty_with_contract_columns() }}
{%- else %}
with

-- Incremental: only the as_of dates that score versions newer than this table's scored
-- (all their versions, so the newest wins); those dates are replaced, the others kept. A table
-- from before a column was added is restated whole, so no row keeps a null in the new column.
scores as (

    select * from {{ health_scores }}
    {% if is_incremental() and columns_present(this, ['account_name', 'grade_order']) -%}
    where as_of_date in (
        select distinct as_of_date from {{ health_scores }}
        where score_version > (select coalesce(max(score_version), 0) from {{ this }})
    )
    {%- endif %}

),

accounts as (

    select * from {{ ref('dim_accounts') }}

),

newest_per_date as (

    select
        scores.*,
        row_number() over (
            partition by account_id, as_of_date, objective
            order by score_version desc
        ) as version_rank
    from scores

),

final as (

    select
        newest_per_date.account_id,
        newest_per_date.as_of_date,
        newest_per_date.objective,
        newest_per_date.score_version,
        accounts.account_name,
        newest_per_date.owner,
        newest_per_date.parent_account_id,
        newest_per_date.segment,
        newest_per_date.industry,
        newest_per_date.health_score,
        newest_per_date.grade,
        {{ grade_order('newest_per_date.grade') }} as grade_order,
        newest_per_date.computed_score,
        newest_per_date.computed_grade,
        newest_per_date.confidence,
        newest_per_date.coverage,
        newest_per_date.missing_factors,
        newest_per_date.is_churned,
        newest_per_date.churned_on,
        newest_per_date.arr,
        newest_per_date.churn_probability,
        newest_per_date.arr_at_risk,
        newest_per_date.top_reasons,
        newest_per_date.previous_score,
        newest_per_date.score_change,
        newest_per_date.change_drivers,
        newest_per_date.override_id is not null as is_overridden,
        newest_per_date.override_action,
        newest_per_date.override_reason,
        newest_per_date.scorecard_version,
        newest_per_date.run_id,
        newest_per_date.computed_at
    from newest_per_date
    left join accounts
        on newest_per_date.account_id = accounts.account_id
    where newest_per_date.version_rank = 1

)

select * from final
{%- endif %}
