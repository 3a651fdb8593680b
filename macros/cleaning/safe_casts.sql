{#-
    Casts that return null instead of failing, in plain SQL so the planner inlines them
    (PostgreSQL 14 has no try_cast and pg_input_is_valid arrives only in 16).
    Nested CASEs guarantee the cast runs only on text that passed the pattern.
-#}

{% macro safe_timestamp(expression) -%}
    case
        when {{ expression }} ~ '^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])[ T]([01]\d|2[0-3]):[0-5]\d(:[0-5]\d)?$'
            then case
                when substr({{ expression }}, 9, 2)::int <= extract(
                    day from (substr({{ expression }}, 1, 7) || '-01')::date
                    + interval '1 month - 1 day'
                )
                    then ({{ expression }})::timestamp at time zone 'UTC'
            end
    end
{%- endmacro %}

{% macro safe_date(expression) -%}
    ({{ safe_timestamp("(" ~ expression ~ ") || ' 00:00:00'") }})::date
{%- endmacro %}

{% macro safe_numeric(expression) -%}
    case when btrim({{ expression }}) ~ '^-?\d{1,15}(\.\d{1,6})?$' then btrim({{ expression }})::numeric end
{%- endmacro %}

{% macro safe_integer(expression) -%}
    case when btrim({{ expression }}) ~ '^-?\d{1,18}$' then btrim({{ expression }})::bigint end
{%- endmacro %}

{% macro clean_text(expression) -%}
    nullif(regexp_replace(btrim({{ expression }}), '\s+', ' ', 'g'), '')
{%- endmacro %}

{#-
    The closing columns of an ERP base model: the rule the row breaks, the source row as
    JSON when it breaks one (what the quarantine keeps; null for an accepted row, since
    turning every row into JSON costs more than typing it) and the lineage columns.
    Expects `rejection_reason` and the whole bronze row as `_source_row`.
-#}
{% macro checked_row_columns() -%}
    rejection_reason,
    case
        when rejection_reason is not null
            then to_jsonb(_source_row) - array['_source_file', '_batch_date', '_loaded_at', '_load_order']
    end as raw_record,
    _source_file,
    _batch_date,
    _loaded_at,
    _load_order
{%- endmacro %}
