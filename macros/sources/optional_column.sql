{#-
    A column that only some batches carry (schema drift): the column when the relation has
    it, otherwise a typed null, so models build before and after the drift arrives.
-#}
{% macro optional_column(relation, column_name, data_type='text') -%}
    {%- set present = [] -%}
    {%- if execute -%}
        {%- for column in adapter.get_columns_in_relation(relation) -%}
            {%- if column.name == column_name -%}{%- do present.append(1) -%}{%- endif -%}
        {%- endfor -%}
    {%- endif -%}
    {%- if present -%}{{ adapter.quote(column_name) }}{%- else -%}null::{{ data_type }}{%- endif -%}
{%- endmacro %}
