-- A view, unlike the other staging models (dbt_project.yml): the feature mart asks whether this
-- source has any row (`provided`), and over a table DuckDB plans the mart differently; at M
-- (20,000 accounts) that plan ran out of the 4 GB memory cap on a first build, the view's did not.
{{ config(materialized='view') }}

with

source as (

    select * from {{ source('raw', 'support_tickets') }}

),

-- Re-exports repeat a key: keep the row from the latest load.
deduplicated as (

    select
        *,
        row_number() over (
            partition by ticket_id
            order by _loaded_at desc nulls last, _row_number desc nulls last
        ) as load_rank
    from source

),

final as (

    select
        ticket_id,
        account_id,
        opened_at,
        closed_at,
        lower(trim(priority)) as priority,
        lower(trim(status)) as status,
        csat_score,
        subject,
        body,
        opened_at as known_at,
        _batch_id as batch_id,
        _loaded_at as loaded_at
    from deduplicated
    where load_rank = 1

)

select * from final
