-- One row per calendar day from the company's founding to two years after today, with
-- calendar and fiscal attributes (fiscal year starts in var('fiscal_year_start_month')).
with

days as (

    select generated_day::date as calendar_date
    from generate_series(
            '{{ var("company_founded_date") }}'::date,
            {% if var('calendar_end_date', none) %}
            '{{ var("calendar_end_date") }}'::date,
        {% else %}
                (current_date + interval '2 years')::date,
            {% endif %}
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
