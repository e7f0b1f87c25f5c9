{{ config(materialized='incremental', unique_key='id') }}
select id, name, amount, day from {{ ref('orders') }}
{% if is_incremental() %}
-- reprocess the newest row: delete+insert must replace it, not duplicate it
where id >= (select coalesce(max(id), 0) from {{ this }})
{% endif %}
