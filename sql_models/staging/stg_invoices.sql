/*
description: >
  One row per live invoice. raw.invoices with `_id` keys, explicit types, trimmed text and empty text as NULL.
  Invoices deleted since their last load are left out: a raw.deletions row detected at or after the record's
  _loaded_at.
materialized: table
grain: [invoice_id]
columns:
  invoice_id:
    description: serviceminder's invoice Id.
    tests: [unique, not_null]
  organization_id:
    description: The organization that issued the invoice.
    tests: [not_null]
  contact_id:
    description: The customer billed.
  appointment_id:
    description: The appointment the invoice bills, when it bills one.
  proposal_id:
    description: The accepted proposal the invoice carries out, when there is one.
  organization_name:
    description: The organization's name as written on this invoice's record.
  invoice_number:
    description: The invoice number shown to the customer, as text (leading zeros and prefixes kept).
  status:
    description: Open, Paid or Void.
    tests:
      - not_null
      - accepted_values: {values: [Open, Paid, Void]}
  subtotal:
    description: Sum of the invoice lines before discount and tax, DECIMAL(18,2).
  discount:
    description: Discount taken off the subtotal, DECIMAL(18,2).
  tax:
    description: Sales tax, DECIMAL(18,2).
  total:
    description: What the customer owes in all, subtotal - discount + tax, DECIMAL(18,2).
  amount_paid:
    description: Payments received against the invoice so far, DECIMAL(18,2).
  balance_due:
    description: total - amount_paid, DECIMAL(18,2).
  invoice_date:
    description: The invoice's date, local to the organization.
  date_paid:
    description: The day the invoice was paid in full; NULL while open.
  created_at:
    description: When the invoice was created, local time.
  updated_at:
    description: When the invoice was last changed, local time.
  loaded_at:
    description: When this pipeline last received the record (UTC).
*/

with

invoices as (
    select * from raw.invoices
),

deletions as (
    select * from raw.deletions
),

live_invoices as (
    select invoices.*
    from invoices
    where not exists (
        select 1
        from deletions
        where
            deletions.entity_type = 'Invoice'
            and deletions.entity_id = invoices.id
            and deletions.detected_at >= invoices._loaded_at
    )
),

final as (
    select
        -- ids
        cast(id as bigint) as invoice_id,
        cast(organization_id as bigint) as organization_id,
        cast(contact_id as bigint) as contact_id,
        cast(appointment_id as bigint) as appointment_id,
        cast(proposal_id as bigint) as proposal_id,

        -- attributes
        nullif(trim(organization), '') as organization_name,
        nullif(trim(invoice_number), '') as invoice_number,
        nullif(trim(status), '') as status,

        -- numbers
        cast(subtotal as decimal(18, 2)) as subtotal,
        cast(discount as decimal(18, 2)) as discount,
        cast(tax as decimal(18, 2)) as tax,
        cast(total as decimal(18, 2)) as total,
        cast(amount_paid as decimal(18, 2)) as amount_paid,
        cast(balance_due as decimal(18, 2)) as balance_due,

        -- dates and timestamps
        cast(invoice_date as date) as invoice_date,
        cast(date_paid as date) as date_paid,
        cast(created_at as timestamp) as created_at,
        cast(updated_at as timestamp) as updated_at,
        cast(_loaded_at as timestamp) as loaded_at
    from live_invoices
)

select * from final
