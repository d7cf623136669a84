{{ config(materialized='table') }}

{#- Coverage intervals of features used: a feature used on day e (known on day k)
    counts toward features_used_30d for as_of dates [max(e, k), e + 29]; merged per
    account and feature (macros/usage_intervals.sql). -#}

{{ usage_coverage_intervals('feature', [{'name': 'features_used_30d', 'from': 0, 'to': 29}]) }}
