-- Bronze: raw source tables exactly as the files arrive, written only by `runner load`.
-- Every column of a source file is text; typing and cleaning happen in silver (dbt).
-- Lineage columns are filled from session settings the loader sets per file, so the
-- COPY writes straight into these tables. Idempotent: safe to run before every load.

create schema if not exists bronze;

create sequence if not exists bronze.load_order;

create table if not exists bronze.load_log (
    file_name text primary key,
    source_system text not null,
    entity text not null,
    batch_date date not null,
    checksum_sha256 text not null,
    bytes bigint not null,
    rows_loaded bigint,
    status text not null check (status in ('loaded', 'failed')),
    error text,
    drift_columns text[] not null default '{}',
    started_at timestamptz not null,
    duration_ms integer not null
);
comment on table bronze.load_log is 'One row per landing file the loader has seen: what, when, how many rows, and why it failed.';

create table if not exists bronze.retired_partitions (
    partition_name text primary key,
    parent_table text not null,
    retired_at timestamptz not null default now()
);
comment on table bronze.retired_partitions is 'Monthly partitions `runner partitions retain` dropped from bronze (archived first). While any is listed, a full refresh is refused: gold keeps the history bronze no longer has.';

create table if not exists bronze.load_refusals (
    file_name text not null,
    checksum_sha256 text not null,
    bytes bigint not null,
    reason text not null,
    refused_at timestamptz not null default now(),
    primary key (file_name, checksum_sha256)
);
comment on table bronze.load_refusals is 'Files refused without loading (a re-delivery with other content): what arrived and why it was refused. Repeated refusals of the same content update refused_at.';

-- Lineage defaults: set by the loader with `set local warehouse.*` inside each file's transaction.
create or replace function bronze.current_file() returns text
language sql stable as $$ select current_setting('warehouse.source_file') $$;
create or replace function bronze.current_batch() returns date
language sql stable as $$ select current_setting('warehouse.batch_date')::date $$;

create table if not exists bronze.crm_customers (
    record jsonb not null,
    _source_file text not null default bronze.current_file(),
    _batch_date date not null default bronze.current_batch(),
    _loaded_at timestamptz not null default now(),
    _load_order bigint not null default nextval('bronze.load_order')
);

create table if not exists bronze.erp_products (
    product_id text, sku text, product_name text, category text, subcategory text,
    brand text, unit_price text, currency text, updated_at text,
    _source_file text not null default bronze.current_file(),
    _batch_date date not null default bronze.current_batch(),
    _loaded_at timestamptz not null default now(),
    _load_order bigint not null default nextval('bronze.load_order')
);

create table if not exists bronze.erp_stores (
    store_id text, store_name text, channel text, city text, country text, opened_date text,
    _source_file text not null default bronze.current_file(),
    _batch_date date not null default bronze.current_batch(),
    _loaded_at timestamptz not null default now(),
    _load_order bigint not null default nextval('bronze.load_order')
);

-- High-volume tables: monthly range partitions on the batch (arrival) date, plus a
-- default partition so a load never fails for want of a partition.
create table if not exists bronze.erp_orders (
    order_id text, customer_id text, store_id text, order_ts text, status text,
    currency text, updated_at text,
    _source_file text not null default bronze.current_file(),
    _batch_date date not null default bronze.current_batch(),
    _loaded_at timestamptz not null default now(),
    _load_order bigint not null default nextval('bronze.load_order')
) partition by range (_batch_date);
create table if not exists bronze.erp_orders_default
    partition of bronze.erp_orders default;

create table if not exists bronze.erp_order_lines (
    order_line_id text, order_id text, line_number text, product_id text, quantity text,
    unit_price text, discount_amount text, updated_at text,
    _source_file text not null default bronze.current_file(),
    _batch_date date not null default bronze.current_batch(),
    _loaded_at timestamptz not null default now(),
    _load_order bigint not null default nextval('bronze.load_order')
) partition by range (_batch_date);
create table if not exists bronze.erp_order_lines_default
    partition of bronze.erp_order_lines default;

-- Create the monthly partition of `parent` holding `month`, moving any rows of that month
-- out of the default partition first. Returns true when it created a partition.
create or replace function bronze.ensure_month_partition(parent text, month date)
returns boolean
language plpgsql as $$
declare
    month_start date := date_trunc('month', month)::date;
    month_end date := (date_trunc('month', month) + interval '1 month')::date;
    child text := parent || '_p' || to_char(month_start, 'YYYYMM');
    moved bigint;
begin
    if to_regclass('bronze.' || child) is not null then
        return false;
    end if;
    execute format('create table bronze.%I (like bronze.%I including defaults)', child, parent);
    execute format(
        'with moved as (delete from bronze.%I where _batch_date >= %L and _batch_date < %L returning *)
         insert into bronze.%I select * from moved',
        parent || '_default', month_start, month_end, child);
    get diagnostics moved = row_count;
    execute format('alter table bronze.%I attach partition bronze.%I for values from (%L) to (%L)',
        parent, child, month_start, month_end);
    if moved > 0 then
        raise notice 'moved % rows of % from the default partition into %', moved, month_start, child;
    end if;
    return true;
end $$;

-- All monthly partitions from `first_month` to `last_month` for both high-volume tables.
create or replace function bronze.ensure_partitions(first_month date, last_month date)
returns integer
language plpgsql as $$
declare
    created integer := 0;
    month date := date_trunc('month', first_month)::date;
    parent text;
begin
    while month <= last_month loop
        foreach parent in array array['erp_orders', 'erp_order_lines'] loop
            if bronze.ensure_month_partition(parent, month) then
                created := created + 1;
            end if;
        end loop;
        month := (month + interval '1 month')::date;
    end loop;
    return created;
end $$;
