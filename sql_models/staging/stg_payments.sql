/*
description: >
  One row per live payment. raw.payments with `_id` keys, explicit types, trimmed text and empty text as NULL.
  Payments deleted since their last load are left out: a raw.deletions row detected at or after the record's
  _loaded_at.
materialized: table
grain: [payment_id]
columns:
  payment_id:
    description: serviceminder's payment Id.
    tests: [unique, not_null]
  organization_id:
    description: The organization that received the payment.
    tests: [not_null]
  invoice_id:
    description: The invoice the payment is for.
  contact_id:
    description: The customer who paid.
  method:
    description: Card, Cash, Check or ACH.
    tests:
      - accepted_values: {values: [Card, Cash, Check, ACH], severity: warn}
  reference:
    description: Card brand and last digits, check number or ACH trace, as text.
  amount:
    description: Amount received, DECIMAL(18,2).
  payment_date:
    description: The day the payment was received, local to the organization.
  created_at:
    description: When the payment was recorded, local time.
  updated_at:
    description: When the payment was last changed, local time.
  loaded_at:
    description: When this pipeline last received the record (UTC).
*/

with

payments as (
    select * from raw.payments
),

deletions as (
    select * from raw.deletions
),

live_payments as (
    select payments.*
    from payments
    where not exists (
        select 1
        from deletions
        where
            deletions.entity_type = 'Payment'
            and deletions.entity_id = payments.id
            and deletions.detected_at >= payments._loaded_at
    )
),

final as (
    select
        -- ids
        cast(id as bigint) as payment_id,
        cast(organization_id as bigint) as organization_id,
        cast(invoice_id as bigint) as invoice_id,
        cast(contact_id as bigint) as contact_id,

        -- attributes
        nullif(trim(method), '') as method,
        nullif(trim(reference), '') as reference,

        -- numbers
        cast(amount as decimal(18, 2)) as amount,

        -- dates and timestamps
        cast(payment_date as date) as payment_date,
        cast(created_at as timestamp) as created_at,
        cast(updated_at as timestamp) as updated_at,
        cast(_loaded_at as timestamp) as loaded_at
    from live_payments
)

select * from final
