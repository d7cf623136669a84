{#- Incremental: each run replaces the as_of dates it builds (int_as_of_range: the new days,
    days restated by late-arriving records, or a backfill's range) and keeps every other day.
    A date's features use only records known by that date, so days outside the range do not
    change. `dbt build --full-refresh` (healthscore run --full-refresh) rebuilds the last year. -#}
{{ config(
    on_schema_change='sync_all_columns',
    **incremental_replace('as_of_date')
) }}

-- One row per account per as_of_date with every point-in-time feature the scorecards
-- use. Each feature uses only records known on or before the as_of_date (known_at
-- before as_of_date + 1 day); see the intermediate models for each domain's rules.
with

account_days as (

    select * from {{ ref('int_account_days') }}

),

-- the version of each account known on the as_of_date (a later export applies from its load date)
accounts as (

    select * from {{ ref('stg_crm__account_versions') }}

),

usage as (

    select * from {{ ref('int_account_usage_daily') }}

),

support as (

    select * from {{ ref('int_account_support_daily') }}

),

voice as (

    select * from {{ ref('int_account_voice_daily') }}

),

-- A source that was not provided at all (no rows) gives NULL features, not zero counts: the
-- scorecard then drops those factors and confidence shows what was missing.
provided as (

    select
        exists (select 1 from {{ ref('stg_support__tickets') }}) as has_ticket_source,
        exists (select 1 from {{ ref('stg_billing__invoices') }}) as has_invoice_source

),

billing as (

    select * from {{ ref('int_account_billing_daily') }}

),

relationship as (

    select * from {{ ref('int_account_relationship_daily') }}

),

churn as (

    select * from {{ ref('int_account_churn_daily') }}

),

as_of_range as (

    select * from {{ ref('int_as_of_range') }}

),

signals as (

    select * from {{ ref('int_account_signals_daily') }}

),

sentiment as (

    select * from {{ ref('int_account_sentiment_daily') }}

),

contracts as (

    select * from {{ ref('int_account_contract_daily') }}

),

-- custom features (docs/features.md): declared attributes and metrics, and the user's own dbt
-- models listed in var('custom_feature_models')
custom_attributes as (

    select * from {{ ref('int_account_attributes_daily') }}

),

custom_metrics as (

    select * from {{ ref('int_account_metrics_daily') }}

),
{%- for model in var('custom_feature_models', []) %}

custom_{{ loop.index }} as (

    select * from {{ ref(model) }}

),
{%- endfor %}

joined as (

    select
        account_days.account_id,
        account_days.as_of_date,
        accounts.account_name,
        accounts.segment,
        accounts.industry,
        accounts.owner,
        accounts.parent_account_id,
        accounts.created_at,
        churn.churned_on,

        usage.active_users_30d,
        usage.active_users_prev_30d,
        usage.events_30d,
        usage.events_prev_30d,
        usage.features_used_30d,
        usage.last_activity_date,
        usage.last_usage_known_date,

        support.tickets_30d,
        support.tickets_90d,
        support.high_priority_share_90d,
        support.open_tickets,
        support.avg_resolution_hours_90d,
        support.csat_avg_90d,
        support.last_ticket_known_date,

        voice.nps_latest,
        voice.nps_previous,
        voice.nps_change,
        voice.survey_response_rate_180d,
        voice.last_survey_known_date,

        billing.mrr,
        billing.mrr_90d_ago,
        billing.active_subscriptions,
        contracts.plan,
        contracts.contract_term_months,
        contracts.arr,
        billing.seats,
        billing.overdue_invoices,
        billing.late_payments_180d,
        billing.failed_payments_180d,
        billing.days_to_renewal,
        billing.discount_pct,
        billing.last_billing_known_date,

        relationship.last_note_date,
        relationship.am_rating_latest,

        signals.last_mention_known_date,
        signals.last_outcome_known_date,

        sentiment.sentiment_tickets_avg_90d,
        sentiment.sentiment_tickets_items_90d,
        sentiment.sentiment_surveys_avg_180d,
        sentiment.sentiment_surveys_items_180d,
        sentiment.sentiment_notes_avg_90d,
        sentiment.sentiment_notes_items_90d,
        sentiment.sentiment_social_avg_90d,
        sentiment.sentiment_social_items_90d,
        sentiment.sentiment_items_90d,
        sentiment.negative_share_90d,
        sentiment.negative_items_14d,
        sentiment.very_negative_items_14d,
        sentiment.sentiment_trend_30d,
        sentiment.sentiment_top_negative,
        provided.has_ticket_source,
        provided.has_invoice_source,
        as_of_range.inputs_loaded_through
        {{- custom_feature_columns(qualified=true) }}
    from account_days
    inner join accounts
        on
            account_days.account_id = accounts.account_id
            and {{ known_on('accounts', 'account_days.as_of_date') }}
    inner join usage
        on {{ same_account_day('account_days', 'usage') }}
    inner join support
        on {{ same_account_day('account_days', 'support') }}
    inner join voice
        on {{ same_account_day('account_days', 'voice') }}
    inner join billing
        on {{ same_account_day('account_days', 'billing') }}
    inner join relationship
        on {{ same_account_day('account_days', 'relationship') }}
    inner join signals
        on {{ same_account_day('account_days', 'signals') }}
    inner join sentiment
        on {{ same_account_day('account_days', 'sentiment') }}
    left join churn
        on {{ same_account_day('account_days', 'churn') }}
    left join contracts
        on {{ same_account_day('account_days', 'contracts') }}
    inner join custom_attributes
        on {{ same_account_day('account_days', 'custom_attributes') }}
    inner join custom_metrics
        on {{ same_account_day('account_days', 'custom_metrics') }}
    {%- for model in var('custom_feature_models', []) %}
    left join custom_{{ loop.index }}
        on {{ same_account_day('account_days', 'custom_' ~ loop.index) }}
    {%- endfor %}
    cross join provided
    cross join as_of_range

),

final as (

    select
        account_id,
        as_of_date,
        account_name,
        segment,
        industry,
        owner,
        parent_account_id,
        churned_on is not null as is_churned,
        churned_on,

        -- standard features every dataset has: tenure, the primary contract's plan and term, MRR
        {{ days_between(to_date('created_at'), 'as_of_date') }} as tenure_days,
        plan,
        contract_term_months,
        active_subscriptions,

        active_users_30d,
        active_users_prev_30d,
        {{ pct_change('active_users_30d', 'active_users_prev_30d') }} as active_users_change_pct,
        events_30d,
        events_prev_30d,
        {{ pct_change('events_30d', 'events_prev_30d') }} as usage_change_pct,
        features_used_30d,
        {{ days_between('last_activity_date', 'as_of_date') }} as days_since_last_activity,
        seats,
        {{ safe_divide('active_users_30d', 'seats') }} as seat_utilisation,

        case when has_ticket_source then tickets_30d end as tickets_30d,
        case when has_ticket_source then tickets_90d end as tickets_90d,
        case when has_ticket_source then high_priority_share_90d end as high_priority_share_90d,
        case when has_ticket_source then open_tickets end as open_tickets,
        case when has_ticket_source then avg_resolution_hours_90d end as avg_resolution_hours_90d,
        case when has_ticket_source then csat_avg_90d end as csat_avg_90d,

        nps_latest,
        nps_previous,
        nps_change,
        survey_response_rate_180d,

        mrr,
        arr,
        mrr_90d_ago,
        {{ pct_change('mrr', 'mrr_90d_ago') }} as mrr_change_pct_90d,
        case when has_invoice_source then overdue_invoices end as overdue_invoices,
        case when has_invoice_source then late_payments_180d end as late_payments_180d,
        case when has_invoice_source then failed_payments_180d end as failed_payments_180d,
        days_to_renewal,
        discount_pct,

        {{ days_between('last_note_date', 'as_of_date') }} as days_since_last_note,
        am_rating_latest,

        sentiment_tickets_avg_90d,
        sentiment_tickets_items_90d,
        sentiment_surveys_avg_180d,
        sentiment_surveys_items_180d,
        sentiment_notes_avg_90d,
        sentiment_notes_items_90d,
        sentiment_social_avg_90d,
        sentiment_social_items_90d,
        sentiment_items_90d,
        negative_share_90d,
        negative_items_14d,
        very_negative_items_14d,
        sentiment_trend_30d,
        sentiment_top_negative,

        -- greatest() skips nulls on DuckDB, Postgres and Spark
        {{ days_between(
            'greatest(last_usage_known_date, last_ticket_known_date, last_survey_known_date,
                last_billing_known_date, last_note_date, last_mention_known_date, last_outcome_known_date)',
            'as_of_date',
        ) }} as days_since_last_signal,
        last_usage_known_date is not null as has_usage_data,
        last_ticket_known_date is not null as has_support_data,
        last_survey_known_date is not null as has_survey_data,
        last_billing_known_date is not null as has_billing_data,
        last_note_date is not null as has_notes,

        -- the load watermark this row was built from (int_as_of_range)
        inputs_loaded_through
        {{- custom_feature_columns(qualified=false) }}
    from joined

)

-- Stored in date order: scoring reads one day (or a range) at a time, and DuckDB skips the row
-- groups of other days by their min/max (an incremental run appends its days in order anyway).
select * from final
order by as_of_date, account_id
