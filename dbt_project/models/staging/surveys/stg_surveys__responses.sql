with

source as (

    select * from {{ source('raw', 'survey_responses') }}

),

-- Re-exports repeat a key: keep the row from the latest load.
deduplicated as (

    select
        *,
        row_number() over (
            partition by response_id
            order by _loaded_at desc nulls last, _row_number desc nulls last
        ) as load_rank
    from source

),

final as (

    select
        response_id,
        account_id,
        respondent_id,
        lower(trim(survey_type)) as survey_type,
        sent_at,
        responded_at,
        score,
        verbatim,
        sent_at as known_at,
        _batch_id as batch_id,
        _loaded_at as loaded_at
    from deduplicated
    where load_rank = 1

)

select * from final
