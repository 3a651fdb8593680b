{#-
    Casts that return null instead of failing, in plain SQL so the planner inlines them
    (PostgreSQL 14 has no try_cast and pg_input_is_valid arrives only in 16).
    Nested CASEs guarantee the cast runs only on text that passed the pattern.
    Patterns use [0-9] (\d may match non-ASCII digits the cast rejects) and check lengths
    with length() rather than bounded repeats like {1,18}, which the regex engine runs
    slower (DECISIONS.md). Year 0000 matches the pattern but not PostgreSQL's calendar.
-#}

{% macro safe_timestamp(expression) -%}
    case
        when {{ expression }} ~ '^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])[ T]([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9])?$'
            and substr({{ expression }}, 1, 4) <> '0000'
            then case
                -- Days up to 28 exist in every month; only later ones need the calendar.
                when substr({{ expression }}, 9, 2) <= '28'
                    or substr({{ expression }}, 9, 2)::int <= extract(
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
    case
        when btrim({{ expression }}) ~ '^-?[0-9]+(\.[0-9]+)?$'
            and length(split_part(ltrim(btrim({{ expression }}), '-'), '.', 1)) <= 15
            and length(split_part(btrim({{ expression }}), '.', 2)) <= 6
            then btrim({{ expression }})::numeric
    end
{%- endmacro %}

{% macro safe_integer(expression) -%}
    case
        when btrim({{ expression }}) ~ '^-?[0-9]+$' and length(ltrim(btrim({{ expression }}), '-')) <= 18
            then btrim({{ expression }})::bigint
    end
{%- endmacro %}

{#-
    Whitespace is Unicode's White_Space list spelled out: `\s` follows the collation, so it
    would match a no-break space on a UTF-8 server and not on a C one.
-#}
{% macro clean_text(expression) -%}
    nullif(btrim(regexp_replace(
        {{ expression }},
        '[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+',
        ' ', 'g'
    )), '')
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
