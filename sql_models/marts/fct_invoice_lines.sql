/*
description: One row per live invoice line.
materialized: table
grain: [invoice_line_id]
columns:
  invoice_line_id:
    description: serviceminder's invoice line Id.
    tests: [unique, not_null]
  invoice_id:
    description: >
      The invoice of the line. serviceminder deletes an invoice with its lines, but the warehouse may learn of the
      invoice's delete before the lines' (a feed event lost; the next full refresh settles it), so the
      relationship test only warns.
    tests:
      - not_null
      - relationships: {to: marts.fct_invoices, field: invoice_id, severity: warn}
  organization_id:
    description: The organization that issued the invoice.
    tests:
      - not_null
      - relationships: {to: marts.dim_organizations, field: organization_id}
  service:
    description: The service or add-on billed.
  description:
    description: The line's text as printed on the invoice.
  is_taxable:
    description: True when sales tax applies to the line.
  quantity:
    description: Quantity billed, DECIMAL(18,4).
  unit_price:
    description: Price of one unit, DECIMAL(18,2).
  extended_total:
    description: quantity x unit_price rounded to the cent, DECIMAL(18,2).
  created_at:
    description: When the line was created, local time.
  updated_at:
    description: When the line was last changed, local time.
tests:
  - expression: {expression: "extended_total = round(quantity * unit_price, 2)", severity: warn}
*/

with

invoice_lines as (
    select * from staging.stg_invoice_lines
),

final as (
    select
        -- ids
        invoice_line_id,
        invoice_id,
        organization_id,

        -- attributes
        service,
        description,
        is_taxable,

        -- numbers
        quantity,
        unit_price,
        extended_total,

        -- timestamps
        created_at,
        updated_at
    from invoice_lines
)

select * from final
