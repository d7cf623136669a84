{{ config(materialized='table') }}

-- Sentiment features per account and as_of_date. A text counts from the date it became
-- known (known_at; a survey verbatim from its response). Windows: tickets, notes and social
-- 90 days, surveys 180 days (they are rarer); the trend compares the mean compound of the last
-- 30 days with the 30 days before. sentiment.text_scores is optional: before the sentiment
-- asset first runs (or in fixtures without it) every feature is empty, not an error.
{%- set text_scores_source = source('sentiment', 'text_scores') %}
{%- set text_scores_relation = adapter.get_relation(
    database=text_scores_source.database,
    schema=text_scores_source.schema,
    identifier=text_scores_source.identifier,
) if execute else none %}
{%- set channel_windows = {'tickets': 90, 'surveys': 180, 'notes': 90, 'social': 90} %}

with

text_scores as (

    {%- if text_scores_relation is not none %}

    select
        channel,
        record_id,
        account_id,
        known_at,
        compound,
        label,
        is_very_negative,
        topic,
        excerpt
    from {{ text_scores_source }}

    {%- else %}

    select
        cast(null as {{ dbt.type_string() }}) as channel,
        cast(null as {{ dbt.type_string() }}) as record_id,
        cast(null as {{ dbt.type_string() }}) as account_id,
        cast(null as {{ dbt.type_timestamp() }}) as known_at,
        cast(null as {{ type_double() }}) as compound,
        cast(null as {{ dbt.type_string() }}) as label,
        cast(null as {{ dbt.type_boolean() }}) as is_very_negative,
        cast(null as {{ dbt.type_string() }}) as topic,
        cast(null as {{ dbt.type_string() }}) as excerpt
    where 1 = 0

    {%- endif %}

),

texts as (

    select
        channel,
        record_id,
        account_id,
        {{ to_date('known_at') }} as known_date,
        cast(compound as {{ type_double() }}) as compound,
        label,
        is_very_negative,
        topic,
        excerpt
    from text_scores
    where account_id is not null and known_at is not null and compound is not null

),

intervals as (

    {%- for channel, days in channel_windows.items() %}

    select
        account_id,
        '{{ channel }}_sum_{{ days }}d' as measure,
        known_date as valid_from,
        {{ add_days('known_date', days) }} as valid_until,
        compound as amount
    from texts
    where channel = '{{ channel }}'

    union all

    select
        account_id,
        '{{ channel }}_items_{{ days }}d' as measure,
        known_date as valid_from,
        {{ add_days('known_date', days) }} as valid_until,
        1 as amount
    from texts
    where channel = '{{ channel }}'

    union all

    select
        account_id,
        '{{ channel }}_negative_{{ days }}d' as measure,
        known_date as valid_from,
        {{ add_days('known_date', days) }} as valid_until,
        1 as amount
    from texts
    where channel = '{{ channel }}' and label = 'negative'

    union all

    {%- endfor %}

    select
        account_id,
        'items_90d' as measure,
        known_date as valid_from,
        {{ add_days('known_date', 90) }} as valid_until,
        1 as amount
    from texts

    union all

    select
        account_id,
        'negative_items_90d' as measure,
        known_date as valid_from,
        {{ add_days('known_date', 90) }} as valid_until,
        1 as amount
    from texts
    where label = 'negative'

    union all

    select
        account_id,
        'negative_items_14d' as measure,
        known_date as valid_from,
        {{ add_days('known_date', 14) }} as valid_until,
        1 as amount
    from texts
    where label = 'negative'

    union all

    select
        account_id,
        'very_negative_items_14d' as measure,
        known_date as valid_from,
        {{ add_days('known_date', 14) }} as valid_until,
        1 as amount
    from texts
    where is_very_negative

    union all

    select
        account_id,
        'sum_30d' as measure,
        known_date as valid_from,
        {{ add_days('known_date', 30) }} as valid_until,
        compound as amount
    from texts

    union all

    select
        account_id,
        'items_30d' as measure,
        known_date as valid_from,
        {{ add_days('known_date', 30) }} as valid_until,
        1 as amount
    from texts

    union all

    -- the 30 days before the last 30: counts on D when known_date is in [D - 59, D - 30]
    select
        account_id,
        'sum_prev_30d' as measure,
        {{ add_days('known_date', 30) }} as valid_from,
        {{ add_days('known_date', 60) }} as valid_until,
        compound as amount
    from texts

    union all

    select
        account_id,
        'items_prev_30d' as measure,
        {{ add_days('known_date', 30) }} as valid_from,
        {{ add_days('known_date', 60) }} as valid_until,
        1 as amount
    from texts

),

{% set measures = [] -%}
{%- for channel, days in channel_windows.items() -%}
    {%- do measures.extend([channel ~ '_sum_' ~ days ~ 'd', channel ~ '_items_' ~ days ~ 'd',
        channel ~ '_negative_' ~ days ~ 'd']) -%}
{%- endfor -%}
{%- do measures.extend(['items_90d', 'negative_items_90d', 'negative_items_14d', 'very_negative_items_14d',
    'sum_30d', 'items_30d', 'sum_prev_30d', 'items_prev_30d']) -%}
{{ accumulate_intervals('intervals', measures) }},

-- The most negative very negative text of the last 14 days, for explanations (a bounded range
-- join: very negative texts only, 14 days each).
worst_candidates as (

    select
        account_days.account_id,
        account_days.as_of_date,
        texts.channel,
        texts.record_id,
        texts.known_date,
        texts.topic,
        texts.excerpt,
        row_number() over (
            partition by account_days.account_id, account_days.as_of_date
            order by texts.compound asc, texts.known_date desc, texts.record_id asc
        ) as negativity_rank
    from {{ ref('int_account_days') }} as account_days
    inner join texts
        on
            account_days.account_id = texts.account_id
            and texts.known_date <= account_days.as_of_date
            and texts.known_date > {{ add_days('account_days.as_of_date', -14) }}
    where texts.is_very_negative

),

worst as (

    select
        account_id,
        as_of_date,
        case channel
            when 'tickets' then 'ticket'
            when 'surveys' then 'survey response'
            when 'notes' then 'account-manager note'
            else 'social mention'
        end as channel_singular,
        record_id,
        known_date,
        topic,
        excerpt
    from worst_candidates
    where negativity_rank = 1

),

final as (

    select
        counts.account_id,
        counts.as_of_date,
        {%- for channel, days in channel_windows.items() %}
        {{ safe_divide('counts.' ~ channel ~ '_sum_' ~ days ~ 'd', 'counts.' ~ channel ~ '_items_' ~ days ~ 'd') }}
            as sentiment_{{ channel }}_avg_{{ days }}d,
        cast(counts.{{ channel }}_items_{{ days }}d as {{ dbt.type_int() }}) as sentiment_{{ channel }}_items_{{ days }}d,
        {{ safe_divide('counts.' ~ channel ~ '_negative_' ~ days ~ 'd', 'counts.' ~ channel ~ '_items_' ~ days ~ 'd') }}
            as sentiment_{{ channel }}_negative_share_{{ days }}d,
        {%- endfor %}
        cast(counts.items_90d as {{ dbt.type_int() }}) as sentiment_items_90d,
        {{ safe_divide('counts.negative_items_90d', 'counts.items_90d') }} as negative_share_90d,
        cast(counts.negative_items_14d as {{ dbt.type_int() }}) as negative_items_14d,
        cast(counts.very_negative_items_14d as {{ dbt.type_int() }}) as very_negative_items_14d,
        {{ safe_divide('counts.sum_30d', 'counts.items_30d') }} as sentiment_avg_30d,
        {{ safe_divide('counts.sum_prev_30d', 'counts.items_prev_30d') }} as sentiment_avg_prev_30d,
        {{ safe_divide('counts.sum_30d', 'counts.items_30d') }}
            - {{ safe_divide('counts.sum_prev_30d', 'counts.items_prev_30d') }} as sentiment_trend_30d,
        case
            when worst.record_id is not null then {{ dbt.concat([
                "cast(cast(counts.very_negative_items_14d as " ~ dbt.type_int() ~ ") as " ~ dbt.type_string() ~ ")",
                "' very negative text'",
                "case when counts.very_negative_items_14d >= 1.5 then 's' else '' end",
                "' in the last 14 days'",
                "coalesce(' (worst about ' || worst.topic || ')', '')",
                "': '",
                "worst.channel_singular",
                "' '",
                "worst.record_id",
                "' on '",
                "cast(worst.known_date as " ~ dbt.type_string() ~ ")",
                "', \"'",
                "coalesce(worst.excerpt, '')",
                "'\"'",
            ]) }}
        end as sentiment_top_negative
    from intervals_accumulated as counts
    left join worst
        on
            counts.account_id = worst.account_id
            and counts.as_of_date = worst.as_of_date

)

select * from final
