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

{#- Every text counts toward several windows; the ones that share a window (same start and
    end) share one row with a column per measure (0 where the text does not count), so each
    text adds a few rows instead of one per measure. -#}
{%- set negative = "case when label = 'negative' then 1 else 0 end" %}
{%- set windows = [] %}
{%- for days in channel_windows.values() | unique | sort %}
    {%- set amounts = {} %}
    {%- set channels = [] %}
    {%- for channel, channel_days in channel_windows.items() if channel_days == days %}
        {%- do channels.append(channel) %}
        {%- do amounts.update({
            channel ~ '_sum_' ~ days ~ 'd': "case when channel = '" ~ channel ~ "' then compound else 0 end",
            channel ~ '_items_' ~ days ~ 'd': "case when channel = '" ~ channel ~ "' then 1 else 0 end",
        }) %}
    {%- endfor %}
    {%- do windows.append({
        'from': 0, 'days': days, 'amounts': amounts, 'where': "channel in ('" ~ channels | join("', '") ~ "')",
    }) %}
{%- endfor %}
{%- do windows.extend([
    {'from': 0, 'days': 90, 'amounts': {'items_90d': '1', 'negative_items_90d': negative}, 'where': none},
    {'from': 0, 'days': 14, 'amounts': {
        'negative_items_14d': negative,
        'very_negative_items_14d': 'case when is_very_negative then 1 else 0 end',
    }, 'where': "label = 'negative' or is_very_negative"},
    {'from': 0, 'days': 30, 'amounts': {'sum_30d': 'compound', 'items_30d': '1'}, 'where': none},
    {'from': 30, 'days': 30, 'amounts': {'sum_prev_30d': 'compound', 'items_prev_30d': '1'}, 'where': none},
]) %}
{#- one row per window: the channel windows of 90 days and every text's 90 days are one -#}
{%- set merged = [] %}
{%- for window in windows %}
    {%- set same = merged | selectattr('from', 'equalto', window['from']) | selectattr('days', 'equalto', window.days) | list %}
    {%- if same %}
        {%- do same[0].amounts.update(window.amounts) %}
        {%- do same[0].update({'where': (same[0]['where'] ~ ' or ' ~ window['where']) if same[0]['where'] and window['where'] else none}) %}
    {%- else %}
        {%- do merged.append(window) %}
    {%- endif %}
{%- endfor %}
{%- set windows = merged %}
{%- set measures = [] %}
{%- for window in windows %}{% do measures.extend(window.amounts.keys()) %}{% endfor %}

-- A text known on day k counts on [k + from, k + from + days): the last 30 days from k, the 30
-- days before them from k + 30 (known_date in [D - 59, D - 30]).
intervals as (
    {%- for window in windows %}

    select
        account_id,
        {{ add_days('known_date', window['from']) if window['from'] else 'known_date' }} as valid_from,
        {{ add_days('known_date', window['from'] + window.days) }} as valid_until,
        {%- for measure in measures %}
        {{ window.amounts.get(measure, '0') }} as {{ measure }}{{ ',' if not loop.last }}
        {%- endfor %}
    from texts
    {%- if window['where'] %}
    where {{ window['where'] }}
    {%- endif %}
    {%- if not loop.last %}

    union all
    {%- endif %}
    {%- endfor %}

),

{{ accumulate_intervals('intervals', measures, wide=true) }},

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
        {%- endfor %}
        cast(counts.items_90d as {{ dbt.type_int() }}) as sentiment_items_90d,
        {{ safe_divide('counts.negative_items_90d', 'counts.items_90d') }} as negative_share_90d,
        cast(counts.negative_items_14d as {{ dbt.type_int() }}) as negative_items_14d,
        cast(counts.very_negative_items_14d as {{ dbt.type_int() }}) as very_negative_items_14d,
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
