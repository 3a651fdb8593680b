-- The stores of each load batch: in, accepted and rejected (rpt_data_quality_batches).
{{ batch_quality('store', ref('base_erp__stores'), ref('stg_erp__stores')) }}
