{{ config(materialized='table') }}

{#- Coverage intervals of active users. A user active on day e (known on day k) counts
    toward active_users_30d for as_of dates [max(e, k), e + 29] and toward
    active_users_prev_30d for [max(e + 30, k), e + 59]; merged per account, user and window
    (macros/usage_intervals.sql). -#}

{{ usage_coverage_intervals(
    'user_id',
    [
        {'name': 'active_users_30d', 'from': 0, 'to': 29},
        {'name': 'active_users_prev_30d', 'from': 30, 'to': 59},
    ],
    window_column='activity_window',
) }}
