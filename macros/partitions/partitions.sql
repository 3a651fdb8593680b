{#-
    Partition management for the high-volume bronze tables (erp_orders, erp_order_lines),
    run with `dbt run-operation` (or `runner partitions …`). The DDL itself lives in the
    SQL functions bronze.ensure_month_partition / bronze.ensure_partitions that the loader
    installs (runner/sql/bronze.sql), so the loader can call the same code without dbt.
-#}

{% macro partitions_setup(months_ahead=3) %}
    {% set sql %}
        select bronze.ensure_partitions(
            least(
                date_trunc('month', current_date)::date,
                (select min(_batch_date) from bronze.erp_orders_default),
                (select min(_batch_date) from bronze.erp_order_lines_default)
            ),
            (
                date_trunc('month', greatest(
                    current_date,
                    (select max(_batch_date) from bronze.erp_orders),
                    (select max(_batch_date) from bronze.erp_order_lines)
                ))
                + make_interval(months => {{ months_ahead | int }})
            )::date
        )
    {% endset %}
    {% set created = run_query(sql).columns[0].values()[0] %}
    {% do run_query('commit') %}
    {{ log('partitions created: ' ~ created, info=True) }}
{% endmacro %}

{% macro refuse_full_refresh_after_retention() %}
    {#- Retention applies to bronze only: gold keeps the retired months. A full refresh
        rebuilds gold from bronze and would silently drop them, so it is refused. -#}
    {% if execute and flags.FULL_REFRESH and var('allow_history_loss', false) != true %}
        {% set found = run_query(
            "select coalesce(string_agg(partition_name, ', ' order by partition_name), '')"
            ~ " from bronze.retired_partitions"
            if adapter.get_relation(target.database, 'bronze', 'retired_partitions') is not none
            else "select ''") %}
        {% set retired = found.columns[0].values()[0] %}
        {% if retired %}
            {{ exceptions.raise_compiler_error(
                "a full refresh would drop from gold the months retired from bronze ("
                ~ retired ~ "). Restore them first with `runner partitions restore ARCHIVE`, "
                ~ "or pass --vars '{allow_history_loss: true}' to rebuild without them.") }}
        {% endif %}
    {% endif %}
{% endmacro %}

{% macro partitions_retire(partitions) %}
    {#- Detach and drop bronze partitions (the runner archives and verifies them first). -#}
    {% for partition in partitions %}
        {% set parent = partition.rsplit('_p', 1)[0] %}
        {% if parent not in ('erp_orders', 'erp_order_lines') or not partition.rsplit('_p', 1)[1].isdigit() %}
            {{ exceptions.raise_compiler_error('not a monthly bronze partition: ' ~ partition) }}
        {% endif %}
        {% do run_query('alter table bronze.' ~ parent ~ ' detach partition bronze.' ~ partition) %}
        {% do run_query('drop table bronze.' ~ partition) %}
        {% do run_query(
            "insert into bronze.retired_partitions (partition_name, parent_table) values ('"
            ~ partition ~ "', '" ~ parent ~ "') on conflict (partition_name) do update set "
            ~ "retired_at = now()") %}
        {{ log('detached and dropped bronze.' ~ partition, info=True) }}
    {% endfor %}
    {% do run_query('commit') %}
{% endmacro %}
