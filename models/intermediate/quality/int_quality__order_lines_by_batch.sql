-- The order lines of each load batch: in, accepted and rejected (rpt_data_quality_batches).
{{ batch_quality('order_line', ref('base_erp__order_lines'), ref('stg_erp__order_lines')) }}
