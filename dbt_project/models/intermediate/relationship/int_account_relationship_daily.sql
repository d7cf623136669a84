{{ config(materialized='table') }}

-- Account-manager notes per account and as_of_date: the latest note and its rating.
with

notes as (

    select
        note_id,
        account_id,
        rating,
        noted_at,
        {{ to_date('known_at') }} as noted_date
    from {{ ref('stg_crm__account_notes') }}

),

account_days as (

    select * from {{ ref('int_account_days') }}

),

dated as (

    select
        account_id,
        'last_note_date' as measure,
        noted_date as known_from,
        noted_date as value
    from notes

),

{{ accumulate_latest_dates('dated', ['last_note_date']) }},

-- Each note is the latest from its day until the day of the next one.
latest_note_periods as (

    select
        account_id,
        rating,
        noted_date as valid_from,
        lead(noted_date) over (
            partition by account_id
            order by noted_at, note_id
        ) as valid_until
    from notes

),

latest_ratings as (

    select
        account_days.account_id,
        account_days.as_of_date,
        periods.rating as am_rating_latest
    from account_days
    inner join latest_note_periods as periods
        on
            account_days.account_id = periods.account_id
            and account_days.as_of_date >= periods.valid_from
            and (periods.valid_until is null or account_days.as_of_date < periods.valid_until)

),

final as (

    select
        latest.account_id,
        latest.as_of_date,
        latest.last_note_date,
        latest_ratings.am_rating_latest
    from dated_accumulated as latest
    left join latest_ratings
        on
            latest.account_id = latest_ratings.account_id
            and latest.as_of_date = latest_ratings.as_of_date

)

select * from final
