-- The customers of each load batch: in, accepted and rejected (rpt_data_quality_batches).
{{ batch_quality('customer', ref('base_crm__customers'), ref('stg_crm__customers')) }}
