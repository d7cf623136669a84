{{ config(materialized='table') }}

-- Financial features per account and as_of_date. A subscription term is active on D
-- when start_date <= D and (end_date is null or end_date >= D), with the values of the
-- version of the term known on D (a re-export that changes MRR, seats or the end date applies
-- from its load date: stg_billing__subscription_versions); an invoice is known from issued_at. Invoice status is the state at export time, so only 'failed' is
-- used, and from the due date (when a payment can first fail).
with

-- Each version of a term counts while it is the version known (valid_from <= D < valid_to).
subscriptions as (

    select * from {{ ref('stg_billing__subscription_versions') }}

),

invoices as (

    select
        account_id,
        status,
        due_date,
        paid_at as paid_date,
        {{ to_date('known_at') }} as issued_date
    from {{ ref('stg_billing__invoices') }}
    -- void invoices were never owed; the void date is not recorded, so they are left out
    -- throughout (a look-ahead for invoices voided after D; documented limitation).
    where status <> 'void'

),

account_days as (

    select * from {{ ref('int_account_days') }}

),

intervals as (

    select
        account_id,
        'mrr' as measure,
        greatest(start_date, valid_from) as valid_from,
        {{ clip_to_version(add_days('end_date', 1)) }} as valid_until,
        mrr as amount
    from subscriptions

    union all

    select
        account_id,
        'seats' as measure,
        greatest(start_date, valid_from) as valid_from,
        {{ clip_to_version(add_days('end_date', 1)) }} as valid_until,
        coalesce(seats, 0) as amount
    from subscriptions

    union all

    select
        account_id,
        'active_subscriptions' as measure,
        greatest(start_date, valid_from) as valid_from,
        {{ clip_to_version(add_days('end_date', 1)) }} as valid_until,
        1 as amount
    from subscriptions

    union all

    -- MRR active on D - 90 (terms are known from their start, so nothing to hide)
    select
        account_id,
        'mrr_90d_ago' as measure,
        greatest({{ add_days('start_date', 90) }}, valid_from) as valid_from,
        {{ clip_to_version(add_days('end_date', 91)) }} as valid_until,
        mrr as amount
    from subscriptions

    union all

    -- overdue on D: due_date < D and not paid by D
    select
        account_id,
        'overdue_invoices' as measure,
        greatest({{ add_days('due_date', 1) }}, issued_date) as valid_from,
        paid_date as valid_until,
        1 as amount
    from invoices

    union all

    -- due in the 180 days ending D and, as known on D, paid late or unpaid past due
    select
        account_id,
        'late_payments_180d' as measure,
        greatest({{ add_days('due_date', 1) }}, issued_date) as valid_from,
        {{ add_days('due_date', 180) }} as valid_until,
        1 as amount
    from invoices
    where paid_date is null or paid_date > due_date

    union all

    select
        account_id,
        'failed_payments_180d' as measure,
        greatest(due_date, issued_date) as valid_from,
        {{ add_days('due_date', 180) }} as valid_until,
        1 as amount
    from invoices
    where status = 'failed'

),

dated as (

    select
        account_id,
        'last_billing_known_date' as measure,
        greatest(start_date, valid_from) as known_from,
        start_date as value
    from subscriptions

    union all

    select
        account_id,
        'last_billing_known_date' as measure,
        issued_date as known_from,
        issued_date as value
    from invoices

),

{{ accumulate_intervals(
    'intervals',
    [
        'mrr', 'seats', 'active_subscriptions', 'mrr_90d_ago',
        'overdue_invoices', 'late_payments_180d', 'failed_payments_180d',
    ],
    dated='dated',
    latest_measures=['last_billing_known_date'],
) }},

-- Max and min over the terms active on D need the terms themselves: an account has few.
active_terms as (

    select
        account_days.account_id,
        account_days.as_of_date,
        max(subscriptions.discount_pct) as discount_pct,
        min(
            case when subscriptions.renewal_date >= account_days.as_of_date then subscriptions.renewal_date end
        ) as next_renewal_date
    from account_days
    inner join subscriptions
        on
            account_days.account_id = subscriptions.account_id
            and account_days.as_of_date >= subscriptions.start_date
            and (subscriptions.end_date is null or account_days.as_of_date <= subscriptions.end_date)
            and {{ known_on('subscriptions', 'account_days.as_of_date') }}
    group by
        account_days.account_id,
        account_days.as_of_date

),

final as (

    select
        amounts.account_id,
        amounts.as_of_date,
        {{ round_money('amounts.mrr') }} as mrr,
        {{ round_money('amounts.mrr_90d_ago') }} as mrr_90d_ago,
        cast(amounts.seats as {{ dbt.type_bigint() }}) as seats,
        cast(amounts.active_subscriptions as {{ dbt.type_int() }}) as active_subscriptions,
        cast(amounts.overdue_invoices as {{ dbt.type_int() }}) as overdue_invoices,
        cast(amounts.late_payments_180d as {{ dbt.type_int() }}) as late_payments_180d,
        cast(amounts.failed_payments_180d as {{ dbt.type_int() }}) as failed_payments_180d,
        {{ days_between('amounts.as_of_date', 'active_terms.next_renewal_date') }} as days_to_renewal,
        active_terms.discount_pct,
        amounts.last_billing_known_date
    from intervals_accumulated as amounts
    left join active_terms
        on
            amounts.account_id = active_terms.account_id
            and amounts.as_of_date = active_terms.as_of_date

)

select * from final
