/*
description: >
  One row per live invoice line. raw.invoice_lines with `_id` keys, explicit types, trimmed text and empty text as
  NULL. Lines deleted since their last load are left out: a raw.deletions row detected at or after the record's
  _loaded_at.
materialized: table
grain: [invoice_line_id]
columns:
  invoice_line_id:
    description: serviceminder's invoice line Id.
    tests: [unique, not_null]
  invoice_id:
    description: The invoice the line belongs to.
    tests: [not_null]
  organization_id:
    description: The organization that issued the invoice.
    tests: [not_null]
  service:
    description: The service or add-on billed.
  description:
    description: The line's text as printed on the invoice (may hold quotes and line breaks).
  is_taxable:
    description: True when sales tax applies to the line.
  quantity:
    description: Quantity billed, DECIMAL(18,4).
  unit_price:
    description: Price of one unit, DECIMAL(18,2).
  extended_total:
    description: quantity x unit_price, rounded to the cent, DECIMAL(18,2).
  created_at:
    description: When the line was created, local time.
  updated_at:
    description: When the line was last changed, local time.
  loaded_at:
    description: When this pipeline last received the record (UTC).
*/

with

invoice_lines as (
    select * from raw.invoice_lines
),

deletions as (
    select * from raw.deletions
),

live_invoice_lines as (
    select invoice_lines.*
    from invoice_lines
    where not exists (
        select 1
        from deletions
        where
            deletions.entity_type = 'InvoiceLine'
            and deletions.entity_id = invoice_lines.id
            and deletions.detected_at >= invoice_lines._loaded_at
    )
),

final as (
    select
        -- ids
        cast(id as bigint) as invoice_line_id,
        cast(invoice_id as bigint) as invoice_id,
        cast(organization_id as bigint) as organization_id,

        -- attributes
        nullif(trim(service), '') as service,
        nullif(trim(description), '') as description,
        cast(taxable as boolean) as is_taxable,

        -- numbers
        cast(quantity as decimal(18, 4)) as quantity,
        cast(unit_price as decimal(18, 2)) as unit_price,
        cast(extended_total as decimal(18, 2)) as extended_total,

        -- timestamps
        cast(created_at as timestamp) as created_at,
        cast(updated_at as timestamp) as updated_at,
        cast(_loaded_at as timestamp) as loaded_at
    from live_invoice_lines
)

select * from final
