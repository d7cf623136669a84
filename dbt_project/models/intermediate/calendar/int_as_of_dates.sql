with

as_of_range as (

    select * from {{ ref('int_as_of_range') }}

),

day_numbers as (

    {{ integer_sequence(10000) }}

),

final as (

    select {{ add_days('as_of_range.as_of_start', 'day_numbers.n') }} as as_of_date
    from as_of_range
    cross join day_numbers
    where day_numbers.n <= {{ days_between('as_of_range.as_of_start', 'as_of_range.as_of_end') }}

)

select * from final
