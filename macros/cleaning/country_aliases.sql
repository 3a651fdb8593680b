{#-
    The country seed keyed by lookup_key(spelling), one row per key (the first spelling
    wins, so two spellings that fold alike can never fan a source row out). Join a
    source's country with `on lookup_key(country) = country_aliases.alias_key`.
-#}
{% macro country_aliases() -%}
    select distinct on (alias_key) *
    from (
        select
            {{ lookup_key('country_alias') }} as alias_key,
            country_code,
            calling_code,
            region
        from {{ ref('country_codes') }}
    ) as keyed
    order by alias_key, country_code
{%- endmacro %}
