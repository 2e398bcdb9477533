/*
description: >
  The last known version of every deleted record the warehouse had loaded, one row per entity, with its key
  figures. A record is deleted when a raw.deletions row for it was detected at or after the record's last load
  (_loaded_at), the same rule that leaves it out of the stg_ model of its kind. This is the complement of those six
  models over the six raw tables; marts.fct_deletions joins it to the detections.
materialized: table
grain: [entity_type, entity_id]
columns:
  entity_type:
    description: Contact, Appointment, Invoice, InvoiceLine, Proposal or Payment.
    tests:
      - accepted_values: {values: [Contact, Appointment, Invoice, InvoiceLine, Proposal, Payment]}
  entity_id:
    description: The deleted record's Id.
  organization_id:
    description: The organization the record belonged to.
  contact_id:
    description: The contact the record belonged to (a deleted contact's own Id); NULL for invoice lines.
  invoice_id:
    description: The invoice of a deleted invoice line or payment; a deleted invoice's own Id.
  status:
    description: The last known status of an appointment, invoice or proposal; a contact's category.
    tests:
      - accepted_values:
          values: [Unassigned, Scheduled, Completed, Canceled, Open, Paid, Void, Accepted, Declined, Expired,
                   Customer, Prospect, Lead, Inactive]
          severity: warn
  invoice_number:
    description: A deleted invoice's number.
  total:
    description: A deleted invoice's or proposal's total, DECIMAL(18,2).
  subtotal:
    description: A deleted appointment's subtotal, DECIMAL(18,2).
  amount:
    description: A deleted payment's amount, DECIMAL(18,2).
  extended_total:
    description: A deleted invoice line's extended total, DECIMAL(18,2).
  scheduled_start:
    description: A deleted appointment's scheduled start, local time.
  created_at:
    description: When the record was created, local time.
  updated_at:
    description: When the record was last changed, as last loaded, local time.
  loaded_at:
    description: When this pipeline last received the record (UTC).
  last_detected_at:
    description: The latest detection of the delete (UTC), at or after loaded_at.
*/

with

contacts as (
    select * from raw.contacts
),

appointments as (
    select * from raw.appointments
),

invoices as (
    select * from raw.invoices
),

invoice_lines as (
    select * from raw.invoice_lines
),

proposals as (
    select * from raw.proposals
),

payments as (
    select * from raw.payments
),

deletions as (
    select * from raw.deletions
),

deleted_entities as (
    select
        entity_type,
        entity_id,
        max(detected_at) as last_detected_at
    from deletions
    group by entity_type, entity_id
),

deleted_contacts as (
    select
        'Contact' as entity_type,
        contacts.id as entity_id,
        contacts.organization_id,
        contacts.id as contact_id,
        cast(null as bigint) as invoice_id,
        contacts.category as status,
        cast(null as text) as invoice_number,
        cast(null as decimal(18, 2)) as total,
        cast(null as decimal(18, 2)) as subtotal,
        cast(null as decimal(18, 2)) as amount,
        cast(null as decimal(18, 2)) as extended_total,
        cast(null as timestamp) as scheduled_start,
        contacts.created_at,
        contacts.updated_at,
        contacts._loaded_at as loaded_at,
        deleted_entities.last_detected_at
    from contacts
    inner join deleted_entities
        on
            deleted_entities.entity_type = 'Contact'
            and deleted_entities.entity_id = contacts.id
            and deleted_entities.last_detected_at >= contacts._loaded_at
),

deleted_appointments as (
    select
        'Appointment' as entity_type,
        appointments.id as entity_id,
        appointments.organization_id,
        appointments.contact_id,
        cast(null as bigint) as invoice_id,
        appointments.status,
        cast(null as text) as invoice_number,
        cast(null as decimal(18, 2)) as total,
        appointments.subtotal,
        cast(null as decimal(18, 2)) as amount,
        cast(null as decimal(18, 2)) as extended_total,
        appointments.scheduled_start,
        appointments.created_at,
        appointments.updated_at,
        appointments._loaded_at as loaded_at,
        deleted_entities.last_detected_at
    from appointments
    inner join deleted_entities
        on
            deleted_entities.entity_type = 'Appointment'
            and deleted_entities.entity_id = appointments.id
            and deleted_entities.last_detected_at >= appointments._loaded_at
),

deleted_invoices as (
    select
        'Invoice' as entity_type,
        invoices.id as entity_id,
        invoices.organization_id,
        invoices.contact_id,
        invoices.id as invoice_id,
        invoices.status,
        invoices.invoice_number,
        invoices.total,
        cast(null as decimal(18, 2)) as subtotal,
        cast(null as decimal(18, 2)) as amount,
        cast(null as decimal(18, 2)) as extended_total,
        cast(null as timestamp) as scheduled_start,
        invoices.created_at,
        invoices.updated_at,
        invoices._loaded_at as loaded_at,
        deleted_entities.last_detected_at
    from invoices
    inner join deleted_entities
        on
            deleted_entities.entity_type = 'Invoice'
            and deleted_entities.entity_id = invoices.id
            and deleted_entities.last_detected_at >= invoices._loaded_at
),

deleted_invoice_lines as (
    select
        'InvoiceLine' as entity_type,
        invoice_lines.id as entity_id,
        invoice_lines.organization_id,
        cast(null as bigint) as contact_id,
        invoice_lines.invoice_id,
        cast(null as text) as status,
        cast(null as text) as invoice_number,
        cast(null as decimal(18, 2)) as total,
        cast(null as decimal(18, 2)) as subtotal,
        cast(null as decimal(18, 2)) as amount,
        invoice_lines.extended_total,
        cast(null as timestamp) as scheduled_start,
        invoice_lines.created_at,
        invoice_lines.updated_at,
        invoice_lines._loaded_at as loaded_at,
        deleted_entities.last_detected_at
    from invoice_lines
    inner join deleted_entities
        on
            deleted_entities.entity_type = 'InvoiceLine'
            and deleted_entities.entity_id = invoice_lines.id
            and deleted_entities.last_detected_at >= invoice_lines._loaded_at
),

deleted_proposals as (
    select
        'Proposal' as entity_type,
        proposals.id as entity_id,
        proposals.organization_id,
        proposals.contact_id,
        cast(null as bigint) as invoice_id,
        proposals.status,
        cast(null as text) as invoice_number,
        proposals.total,
        cast(null as decimal(18, 2)) as subtotal,
        cast(null as decimal(18, 2)) as amount,
        cast(null as decimal(18, 2)) as extended_total,
        cast(null as timestamp) as scheduled_start,
        proposals.created_at,
        proposals.updated_at,
        proposals._loaded_at as loaded_at,
        deleted_entities.last_detected_at
    from proposals
    inner join deleted_entities
        on
            deleted_entities.entity_type = 'Proposal'
            and deleted_entities.entity_id = proposals.id
            and deleted_entities.last_detected_at >= proposals._loaded_at
),

deleted_payments as (
    select
        'Payment' as entity_type,
        payments.id as entity_id,
        payments.organization_id,
        payments.contact_id,
        payments.invoice_id,
        cast(null as text) as status,
        cast(null as text) as invoice_number,
        cast(null as decimal(18, 2)) as total,
        cast(null as decimal(18, 2)) as subtotal,
        payments.amount,
        cast(null as decimal(18, 2)) as extended_total,
        cast(null as timestamp) as scheduled_start,
        payments.created_at,
        payments.updated_at,
        payments._loaded_at as loaded_at,
        deleted_entities.last_detected_at
    from payments
    inner join deleted_entities
        on
            deleted_entities.entity_type = 'Payment'
            and deleted_entities.entity_id = payments.id
            and deleted_entities.last_detected_at >= payments._loaded_at
),

unioned as (
    select * from deleted_contacts
    union all
    select * from deleted_appointments
    union all
    select * from deleted_invoices
    union all
    select * from deleted_invoice_lines
    union all
    select * from deleted_proposals
    union all
    select * from deleted_payments
),

final as (
    select
        -- ids
        entity_type,
        cast(entity_id as bigint) as entity_id,
        cast(organization_id as bigint) as organization_id,
        cast(contact_id as bigint) as contact_id,
        cast(invoice_id as bigint) as invoice_id,

        -- attributes
        nullif(trim(status), '') as status,
        nullif(trim(invoice_number), '') as invoice_number,

        -- numbers
        cast(total as decimal(18, 2)) as total,
        cast(subtotal as decimal(18, 2)) as subtotal,
        cast(amount as decimal(18, 2)) as amount,
        cast(extended_total as decimal(18, 2)) as extended_total,

        -- timestamps
        cast(scheduled_start as timestamp) as scheduled_start,
        cast(created_at as timestamp) as created_at,
        cast(updated_at as timestamp) as updated_at,
        cast(loaded_at as timestamp) as loaded_at,
        cast(last_detected_at as timestamp) as last_detected_at
    from unioned
)

select * from final
