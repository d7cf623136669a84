-- The latest published score per account and objective, with the account's CRM attributes.
-- depends_on: {{ source('scores', 'health_scores') }}
{%- set current_scores = source('scores', 'health_scores_current') %}
{%- if execute and load_relation(current_scores) is none %}
-- Nothing published yet (dbt built without the scoring asset): empty, with the contract's columns.
{{ empty_with_contract_columns() }}
{%- else %}
with

current_scores as (

    select * from {{ current_scores }}

),

accounts as (

    select * from {{ ref('dim_accounts') }}

),

final as (

    select
        current_scores.account_id,
        current_scores.objective,
        current_scores.as_of_date,
        current_scores.score_version,
        accounts.account_name,
        current_scores.owner,
        current_scores.parent_account_id,
        current_scores.segment,
        current_scores.industry,
        accounts.country,
        current_scores.health_score,
        current_scores.grade,
        {{ grade_order('current_scores.grade') }} as grade_order,
        current_scores.confidence,
        current_scores.coverage,
        current_scores.missing_factors,
        current_scores.is_churned,
        current_scores.churned_on,
        current_scores.arr,
        current_scores.churn_probability,
        current_scores.arr_at_risk,
        current_scores.top_reasons,
        current_scores.previous_score,
        current_scores.score_change,
        current_scores.change_drivers,
        current_scores.override_id is not null as is_overridden,
        current_scores.override_action,
        current_scores.override_reason,
        current_scores.scorecard_name,
        current_scores.scorecard_version,
        current_scores.computed_at
    from current_scores
    left join accounts
        on current_scores.account_id = accounts.account_id

)

select * from final
{%- endif %}
