-- The orders of each load batch: in, accepted and rejected (rpt_data_quality_batches).
{{ batch_quality('order', ref('base_erp__orders'), ref('stg_erp__orders')) }}
