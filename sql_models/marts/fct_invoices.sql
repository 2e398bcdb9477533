/*
description: >
  One row per live invoice, void ones included (status Void); reports leave void invoices out of sales.
materialized: table
grain: [invoice_id]
columns:
  invoice_id:
    description: serviceminder's invoice Id.
    tests: [unique, not_null]
  organization_id:
    description: The organization that issued the invoice.
    tests:
      - not_null
      - relationships: {to: marts.dim_organizations, field: organization_id}
  contact_id:
    description: >
      The customer billed. May point to a hard-deleted contact (serviceminder keeps the invoices), so the
      relationship test only warns.
    tests:
      - relationships: {to: marts.dim_contacts, field: contact_id, severity: warn}
  appointment_id:
    description: >
      The appointment billed, if any. The appointment may have been hard-deleted since, so the relationship test
      only warns.
    tests:
      - relationships: {to: marts.fct_appointments, field: appointment_id, severity: warn}
  proposal_id:
    description: >
      The accepted proposal carried out, if any. The proposal may have been hard-deleted since, so the
      relationship test only warns.
    tests:
      - relationships: {to: marts.fct_proposals, field: proposal_id, severity: warn}
  invoice_number:
    description: The invoice number shown to the customer, as text.
  status:
    description: Open, Paid or Void.
    tests:
      - not_null
      - accepted_values: {values: [Open, Paid, Void]}
  subtotal:
    description: Sum of the lines before discount and tax, DECIMAL(18,2).
  discount:
    description: Discount, DECIMAL(18,2).
  tax:
    description: Sales tax, DECIMAL(18,2).
  total:
    description: subtotal - discount + tax, DECIMAL(18,2); gross sales sum it over non-void invoices.
  amount_paid:
    description: Payments received so far, DECIMAL(18,2).
  balance_due:
    description: total - amount_paid, DECIMAL(18,2).
  invoice_date:
    description: The invoice's date; reports count sales by its month.
  date_paid:
    description: The day the invoice was paid in full; NULL while open.
  created_at:
    description: When the invoice was created, local time.
  updated_at:
    description: When the invoice was last changed, local time.
tests:
  - expression: {expression: "balance_due = total - amount_paid", severity: warn}
  - expression: {expression: "total = subtotal - discount + tax", severity: warn}
*/

with

invoices as (
    select * from staging.stg_invoices
),

final as (
    select
        -- ids
        invoice_id,
        organization_id,
        contact_id,
        appointment_id,
        proposal_id,

        -- attributes
        invoice_number,
        status,

        -- numbers
        subtotal,
        discount,
        tax,
        total,
        amount_paid,
        balance_due,

        -- dates and timestamps
        invoice_date,
        date_paid,
        created_at,
        updated_at
    from invoices
)

select * from final
