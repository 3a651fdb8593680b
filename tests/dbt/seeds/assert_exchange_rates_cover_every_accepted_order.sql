-- Every currency an order may carry (var accepted_values) has a rate from the first day an
-- order may have (var company_founded_date): else its lines would have no EUR amounts and
-- fct_order_lines' not-null contract would stop gold.
with

accepted_currencies as (

    {% for currency in var('accepted_values')['currency_code'] %}
        select '{{ currency }}'::text as currency_code
        {{ 'union all' if not loop.last }}
    {% endfor %}

),

exchange_rates as (

    select * from {{ ref('exchange_rates') }}

),

first_rates as (

    select
        currency_code,
        min(valid_from) as first_valid_from
    from exchange_rates
    group by currency_code

),

final as (

    select
        accepted_currencies.currency_code,
        first_rates.first_valid_from
    from accepted_currencies
    left join first_rates
        on accepted_currencies.currency_code = first_rates.currency_code
    where
        first_rates.first_valid_from is null
        or first_rates.first_valid_from > '{{ var("company_founded_date") }}'::date

)

select * from final
