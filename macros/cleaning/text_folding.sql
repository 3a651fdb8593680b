{#-
    Case and accent folds that give the same answer on every server. lower(), upper() and
    initcap() follow the collation: under the C locale they change ASCII letters only
    (lower('É') stays 'É'), under a UTF-8 locale every letter. So every fold names a
    Unicode collation explicitly (unicode_collation) and hands back the default collation.
    Names are first brought to one Unicode form (NFC), so a precomposed 'é' and 'e' with a
    combining accent are the same text; codes compared with ASCII lists skip that step
    (normalize() costs about as much again as the rest of a fold).
-#}

{#-
    The Unicode-aware collation of this server: pg_c_utf8 (PostgreSQL 17+, built in, the
    same Unicode tables everywhere), else the operating system's "C.utf8" (glibc 2.35+,
    Debian, Ubuntu), whose case mappings give the same results for the folds below.
-#}
{% macro unicode_collation() %}
    {%- if not execute %}{{ return('pg_c_utf8') }}{% endif -%}
    {%- set found = run_query(
        "select collname from pg_catalog.pg_collation"
        ~ " where collname in ('pg_c_utf8', 'C.utf8')"
        ~ " and collencoding in (-1, pg_catalog.pg_char_to_encoding('UTF8'))"
        ~ " and pg_catalog.current_setting('server_encoding') = 'UTF8'"
        ~ " order by collname = 'pg_c_utf8' desc limit 1"
    ) -%}
    {%- if found.rows | length == 0 -%}
        {%- do exceptions.raise_compiler_error(
            "this PostgreSQL server has no Unicode-aware collation for cleaning text: use "
            ~ "PostgreSQL 17 or later (built-in pg_c_utf8), or an older server whose database "
            ~ "is UTF8-encoded on an operating system with the C.utf8 locale (glibc 2.35+, "
            ~ "Debian 12, Ubuntu 22.04), then run the build again") -%}
    {%- endif -%}
    {{ return('"' ~ found.rows[0][0] ~ '"') }}
{% endmacro %}

{% macro fold_lower(expression) -%}
    lower(({{ expression }}) collate {{ unicode_collation() }}) collate "default"
{%- endmacro %}

{% macro fold_upper(expression) -%}
    upper(({{ expression }}) collate {{ unicode_collation() }}) collate "default"
{%- endmacro %}

{#- Each word's first letter upper case, the rest lower case. -#}
{% macro title_case(expression) -%}
    initcap(normalize({{ expression }}, nfc) collate {{ unicode_collation() }}) collate "default"
{%- endmacro %}

{#-
    The key a spelling is looked up by: cleaned, lower case, accents removed (decompose,
    then drop the combining marks), so 'RÉPUBLIQUE  Française' and 'republique francaise'
    find the same seed row.
-#}
{% macro lookup_key(expression) -%}
    regexp_replace(
        normalize(
            lower(({{ clean_text(expression) }}) collate {{ unicode_collation() }})
            collate "default",
            nfd
        ),
        '[\u0300-\u036f]', '', 'g'
    )
{%- endmacro %}
