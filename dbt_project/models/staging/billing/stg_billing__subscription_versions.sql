-- Every version of every subscription term, as loaded (point-in-time history of the billing
-- system's current-state exports; macros/history.sql). The version known on D is the row with
-- valid_from <= D < valid_to (valid_to null: current).
{{ scd2_versions(
    source('raw', 'subscriptions'),
    'subscription_id',
    expressions={
        'arr': 'coalesce(arr, 12 * mrr)',
        'currency': 'upper(trim(currency))',
        'status': 'lower(trim(status))',
    },
) }}
