/*
description: One row per live payment.
materialized: table
grain: [payment_id]
columns:
  payment_id:
    description: serviceminder's payment Id.
    tests: [unique, not_null]
  organization_id:
    description: The organization that received the payment.
    tests:
      - not_null
      - relationships: {to: marts.dim_organizations, field: organization_id}
  invoice_id:
    description: >
      The invoice paid. The invoice may have been hard-deleted since, so the relationship test only warns.
    tests:
      - relationships: {to: marts.fct_invoices, field: invoice_id, severity: warn}
  contact_id:
    description: >
      The customer who paid. May point to a hard-deleted contact (serviceminder keeps the payments), so the
      relationship test only warns.
    tests:
      - relationships: {to: marts.dim_contacts, field: contact_id, severity: warn}
  method:
    description: Card, Cash, Check or ACH.
    tests:
      - accepted_values: {values: [Card, Cash, Check, ACH], severity: warn}
  reference:
    description: Card brand and last digits, check number or ACH trace.
  amount:
    description: Amount received, DECIMAL(18,2); reports sum it as collected by payment month.
  payment_date:
    description: The day the payment was received.
  created_at:
    description: When the payment was recorded, local time.
  updated_at:
    description: When the payment was last changed, local time.
*/

with

payments as (
    select * from staging.stg_payments
),

final as (
    select
        -- ids
        payment_id,
        organization_id,
        invoice_id,
        contact_id,

        -- attributes
        method,
        reference,

        -- numbers
        amount,

        -- dates and timestamps
        payment_date,
        created_at,
        updated_at
    from payments
)

select * from final
