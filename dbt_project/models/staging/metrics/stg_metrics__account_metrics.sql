with

source as (

    select
        measurement_id,
        account_id,
        lower(trim(metric)) as metric,
        value,
        measured_at,
        received_at,
        _batch_id,
        _loaded_at,
        _row_number
    from {{ source('raw', 'account_metrics') }}

),

-- Re-exports repeat a key: keep the row from the latest load. The same metric measured twice
-- at the same instant is one measurement too (latest load wins). Repeats are rare, so only
-- the repeated keys (and null ones) go through the ranking windows; the rest pass straight
-- through (as in stg_product__usage_events).
repeated_ids as (

    select measurement_id
    from source
    where measurement_id is not null
    group by measurement_id
    having count(*) > 1

),

deduplicated as (

    select * from source
    where
        measurement_id is not null
        and not exists (select 1 from repeated_ids where repeated_ids.measurement_id = source.measurement_id)

    union all

    select
        measurement_id, account_id, metric, value, measured_at, received_at, _batch_id, _loaded_at, _row_number
    from (
        select
            source.*,
            row_number() over (
                partition by source.measurement_id
                order by source._loaded_at desc nulls last, source._row_number desc nulls last
            ) as load_rank
        from source
        where
            source.measurement_id is null
            or source.measurement_id in (select measurement_id from repeated_ids)
    ) as ranked
    where load_rank = 1

),

repeated_instants as (

    select account_id, metric, measured_at
    from deduplicated
    where account_id is not null and metric is not null and measured_at is not null
    group by account_id, metric, measured_at
    having count(*) > 1

),

by_instant as (

    select * from deduplicated
    where
        account_id is not null
        and metric is not null
        and measured_at is not null
        and not exists (
            select 1 from repeated_instants
            where
                repeated_instants.account_id = deduplicated.account_id
                and repeated_instants.metric = deduplicated.metric
                and repeated_instants.measured_at = deduplicated.measured_at
        )

    union all

    select
        measurement_id, account_id, metric, value, measured_at, received_at, _batch_id, _loaded_at, _row_number
    from (
        select
            deduplicated.*,
            row_number() over (
                partition by deduplicated.account_id, deduplicated.metric, deduplicated.measured_at
                order by deduplicated._loaded_at desc nulls last, deduplicated._row_number desc nulls last
            ) as instant_rank
        from deduplicated
        where
            deduplicated.account_id is null
            or deduplicated.metric is null
            or deduplicated.measured_at is null
            or exists (
                select 1 from repeated_instants
                where
                    repeated_instants.account_id = deduplicated.account_id
                    and repeated_instants.metric = deduplicated.metric
                    and repeated_instants.measured_at = deduplicated.measured_at
            )
    ) as ranked
    where instant_rank = 1

),

final as (

    select
        measurement_id,
        account_id,
        metric,
        value,
        measured_at,
        received_at,
        coalesce(received_at, measured_at) as known_at,
        _batch_id as batch_id,
        _loaded_at as loaded_at
    from by_instant

)

select * from final
