{{ config(materialized='view') }}
select id, name, amount from {{ ref('orders') }} where amount > 5
