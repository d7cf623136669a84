-- One row per published score version: when, with which scorecard and code, over which dates.
-- depends_on: {{ source('scores', 'health_scores') }}
{%- set score_runs = source('scores', 'score_runs') %}
{%- if execute and load_relation(score_runs) is none %}
-- Nothing published yet (dbt built without the scoring asset): empty, with the contract's columns.
{{ empty_with_contract_columns() }}
{%- else %}
with

score_runs as (

    select * from {{ score_runs }}

),

final as (

    select
        score_version,
        run_id,
        scorecard_name,
        scorecard_version,
        scorecard_hash,
        code_version,
        input_batches_id,
        as_of_start,
        as_of_end,
        accounts_scored,
        score_rows,
        seconds as run_seconds,
        computed_at
    from score_runs

)

select * from final
{%- endif %}
