-- A table: every domain model joins it, and as a view its range join would be redone each time.
{{ config(materialized='table') }}

-- The feature grain: one row per account per as_of_date.
with

spans as (

    select * from {{ ref('int_account_as_of_spans') }}

),

as_of_dates as (

    select * from {{ ref('int_as_of_dates') }}

),

final as (

    select
        spans.account_id,
        as_of_dates.as_of_date
    from spans
    inner join as_of_dates
        on as_of_dates.as_of_date between spans.first_as_of_date and spans.last_as_of_date

)

select * from final
