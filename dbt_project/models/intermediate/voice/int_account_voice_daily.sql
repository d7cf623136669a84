{{ config(materialized='table') }}

-- Customer-voice features per account and as_of_date. An invitation is known from
-- sent_at; a response counts from responded_at.
with

survey_responses as (

    select
        response_id,
        account_id,
        survey_type,
        score,
        responded_at,
        {{ to_date('known_at') }} as sent_date,
        -- greatest() skips NULLs: without the case an unanswered invitation would count as a
        -- response on its sent date.
        case
            when responded_at is not null
                then greatest({{ to_date('responded_at') }}, {{ to_date('known_at') }})
        end as responded_date
    from {{ ref('stg_surveys__responses') }}

),

account_days as (

    select * from {{ ref('int_account_days') }}

),

intervals as (

    -- invitations sent in the 180 days ending D
    select
        account_id,
        'invitations_180d' as measure,
        sent_date as valid_from,
        {{ add_days('sent_date', 180) }} as valid_until,
        1 as amount
    from survey_responses

    union all

    -- of those, the ones answered by D
    select
        account_id,
        'responses_180d' as measure,
        responded_date as valid_from,
        {{ add_days('sent_date', 180) }} as valid_until,
        1 as amount
    from survey_responses
    where responded_date is not null

),

dated as (

    select
        account_id,
        'last_survey_known_date' as measure,
        sent_date as known_from,
        sent_date as value
    from survey_responses

),

{{ accumulate_intervals('intervals', ['invitations_180d', 'responses_180d'], dated='dated', latest_measures=['last_survey_known_date']) }},

nps_responses as (

    select
        account_id,
        response_id,
        score,
        responded_at,
        responded_date,
        lag(score) over (
            partition by account_id
            order by responded_date, responded_at, response_id
        ) as previous_score,
        lag(responded_date) over (
            partition by account_id
            order by responded_date, responded_at, response_id
        ) as previous_responded_date,
        lead(responded_date) over (
            partition by account_id
            order by responded_date, responded_at, response_id
        ) as next_responded_date
    from survey_responses
    where
        survey_type = 'nps'
        and responded_date is not null
        and score is not null

),

-- Each response is the latest from its day until the next response, for at most 365 days.
nps_latest_periods as (

    select
        account_id,
        score,
        previous_score,
        previous_responded_date,
        responded_date as valid_from,
        case
            when next_responded_date is null then {{ add_days('responded_date', 365) }}
            when next_responded_date < {{ add_days('responded_date', 365) }} then next_responded_date
            else {{ add_days('responded_date', 365) }}
        end as valid_until
    from nps_responses

),

nps_daily as (

    select
        account_days.account_id,
        account_days.as_of_date,
        periods.score as nps_latest,
        case
            when periods.previous_responded_date > {{ add_days('account_days.as_of_date', -365) }}
                then periods.previous_score
        end as nps_previous
    from account_days
    inner join nps_latest_periods as periods
        on
            account_days.account_id = periods.account_id
            and account_days.as_of_date >= periods.valid_from
            and account_days.as_of_date < periods.valid_until

),

final as (

    select
        counts.account_id,
        counts.as_of_date,
        nps_daily.nps_latest,
        nps_daily.nps_previous,
        nps_daily.nps_latest - nps_daily.nps_previous as nps_change,
        {{ safe_divide('counts.responses_180d', 'counts.invitations_180d') }} as survey_response_rate_180d,
        counts.last_survey_known_date
    from intervals_accumulated as counts
    left join nps_daily
        on
            counts.account_id = nps_daily.account_id
            and counts.as_of_date = nps_daily.as_of_date

)

select * from final
