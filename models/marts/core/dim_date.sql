-- One row per calendar day from the company's founding to the end of the year after the
-- latest order, with calendar, ISO and fiscal attributes (fiscal year starts in
-- var('fiscal_year_start_month')). Bounded by the data, not the clock: two builds of the
-- same data give the same calendar.
with

orders as (

    select * from {{ ref('stg_erp__orders') }}

),

latest_order as (

    select max(order_date) as order_date from orders

),

calendar_end as (

    select
        {% if var('calendar_end_date', none) %}
            '{{ var("calendar_end_date") }}'::date
        {% else %}
            (
                date_trunc('year', coalesce(
                    latest_order.order_date, '{{ var("company_founded_date") }}'::date
                )) + interval '2 years - 1 day'
            )::date
        {% endif %} as end_date
    from latest_order

),

days as (

    select generated_day::date as calendar_date
    from calendar_end
    cross join generate_series(
        '{{ var("company_founded_date") }}'::date,
        end_date,
        interval '1 day'
    ) as generated_day

),

final as (

    select
        calendar_date,
        to_char(calendar_date, 'YYYYMMDD')::integer as date_key,
        to_char(calendar_date, 'FMDay') as day_name,
        to_char(calendar_date, 'FMMonth') as month_name,
        to_char(calendar_date, 'YYYY-MM') as month_label,
        extract(isodow from calendar_date)::integer as day_of_week,
        extract(day from calendar_date)::integer as day_of_month,
        extract(doy from calendar_date)::integer as day_of_year,
        extract(week from calendar_date)::integer as iso_week,
        -- The year the ISO week belongs to: 2024-12-30 is in week 1 of 2025.
        extract(isoyear from calendar_date)::integer as iso_year,
        extract(month from calendar_date)::integer as month_number,
        extract(quarter from calendar_date)::integer as quarter_number,
        extract(year from calendar_date)::integer as year_number,
        -- The fiscal year is named after the calendar year in which it ends.
        extract(year from calendar_date)::integer
        + case
            when {{ var('fiscal_year_start_month') }} > 1
                and extract(month from calendar_date) >= {{ var('fiscal_year_start_month') }}
                then 1
            else 0
        end as fiscal_year,
        (
            (extract(month from calendar_date)::integer - {{ var('fiscal_year_start_month') }} + 12)
            % 12 / 3 + 1
        )::integer as fiscal_quarter,
        extract(isodow from calendar_date) in (6, 7) as is_weekend,
        date_trunc('month', calendar_date)::date as month_start_date,
        (date_trunc('month', calendar_date) + interval '1 month - 1 day')::date
            as month_end_date
    from days

)

select * from final
