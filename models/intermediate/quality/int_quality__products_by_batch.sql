-- The products of each load batch: in, accepted and rejected (rpt_data_quality_batches).
{{ batch_quality('product', ref('base_erp__products'), ref('stg_erp__products')) }}
