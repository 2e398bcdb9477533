/*
description: >
  One row per record that serviceminder hard-deleted and this warehouse knows of, with the record's last known key
  figures where the warehouse had loaded it. The pipeline learns of a delete from the feed's Entity Deleted events
  or because a full refresh no longer returns the record; when both happened, the earlier detection is kept. A
  deletion is ignored when the record was downloaded again after it was detected (the record is live again and
  is in its fact or dimension instead). Deletes whose feed event was lost, of records the warehouse never loaded,
  cannot be known and are missing.
materialized: table
grain: [entity_type, entity_id]
columns:
  entity_type:
    description: Contact, Appointment, Invoice, InvoiceLine, Proposal or Payment.
    tests:
      - not_null
      - accepted_values:
          values: [Contact, Appointment, Invoice, InvoiceLine, Proposal, Payment]
          severity: warn
  entity_id:
    description: The deleted record's Id.
    tests: [not_null]
  organization_id:
    description: >
      The organization the record belonged to. An organization whose records are all deleted is no longer in
      dim_organizations, so the relationship test only warns.
    tests:
      - relationships: {to: marts.dim_organizations, field: organization_id, severity: warn}
  contact_id:
    description: The contact the record belonged to (a deleted contact's own Id); NULL when not loaded.
  invoice_id:
    description: The invoice of a deleted invoice line or payment, or a deleted invoice's own Id.
  detected_by:
    description: How the delete was first detected - feed (Entity Deleted event) or full_refresh.
    tests:
      - not_null
      - accepted_values: {values: [feed, full_refresh]}
  status:
    description: The last known status of an appointment, invoice or proposal; a contact's category.
    tests:
      - accepted_values:
          values: [Unassigned, Scheduled, Completed, Canceled, Open, Paid, Void, Accepted, Declined, Expired,
                   Customer, Prospect, Lead, Inactive]
          severity: warn
  invoice_number:
    description: A deleted invoice's number.
  has_record:
    description: True when the warehouse had loaded the record, so its key figures are filled in.
    tests: [not_null]
  total:
    description: A deleted invoice's or proposal's last known total, DECIMAL(18,2).
  subtotal:
    description: A deleted appointment's last known subtotal, DECIMAL(18,2).
  amount:
    description: A deleted payment's last known amount, DECIMAL(18,2).
  extended_total:
    description: A deleted invoice line's last known extended total, DECIMAL(18,2).
  scheduled_start:
    description: A deleted appointment's last known scheduled start, local time.
  record_created_at:
    description: When the deleted record was created, local time.
  record_updated_at:
    description: When the deleted record was last changed, as last loaded, local time.
  record_loaded_at:
    description: When this pipeline last received the deleted record (UTC).
  deleted_at:
    description: When serviceminder deleted the record, local time, from its Entity Deleted event; NULL when unknown.
  detected_at:
    description: When this pipeline first learned of the delete (UTC).
    tests: [not_null]
*/

with

deletions as (
    select * from staging.stg_deletions
),

deleted_records as (
    select * from staging.stg_deleted_records
),

contacts as (
    select * from staging.stg_contacts
),

appointments as (
    select * from staging.stg_appointments
),

invoices as (
    select * from staging.stg_invoices
),

invoice_lines as (
    select * from staging.stg_invoice_lines
),

proposals as (
    select * from staging.stg_proposals
),

payments as (
    select * from staging.stg_payments
),

live_records as (
    select 'Contact' as entity_type, contact_id as entity_id from contacts
    union all
    select 'Appointment' as entity_type, appointment_id as entity_id from appointments
    union all
    select 'Invoice' as entity_type, invoice_id as entity_id from invoices
    union all
    select 'InvoiceLine' as entity_type, invoice_line_id as entity_id from invoice_lines
    union all
    select 'Proposal' as entity_type, proposal_id as entity_id from proposals
    union all
    select 'Payment' as entity_type, payment_id as entity_id from payments
),

-- detections that still count: the record is not live, and it was not loaded again after the detection
effective_detections as (
    select
        deletions.*,
        row_number() over (
            partition by deletions.entity_type, deletions.entity_id
            order by deletions.detected_at, deletions.detected_by
        ) as detection_rank,
        max(deletions.deleted_at) over (
            partition by deletions.entity_type, deletions.entity_id
        ) as known_deleted_at,
        max(deletions.organization_id) over (
            partition by deletions.entity_type, deletions.entity_id
        ) as known_organization_id
    from deletions
    left join deleted_records
        on
            deleted_records.entity_type = deletions.entity_type
            and deleted_records.entity_id = deletions.entity_id
    where
        not exists (
            select 1
            from live_records
            where
                live_records.entity_type = deletions.entity_type
                and live_records.entity_id = deletions.entity_id
        )
        and (deleted_records.loaded_at is null or deletions.detected_at >= deleted_records.loaded_at)
),

first_detections as (
    select *
    from effective_detections
    where detection_rank = 1
),

final as (
    select
        -- ids
        first_detections.entity_type,
        first_detections.entity_id,
        coalesce(deleted_records.organization_id, first_detections.known_organization_id) as organization_id,
        deleted_records.contact_id,
        deleted_records.invoice_id,

        -- attributes
        first_detections.detected_by,
        deleted_records.status,
        deleted_records.invoice_number,
        deleted_records.entity_id is not null as has_record,

        -- numbers
        deleted_records.total,
        deleted_records.subtotal,
        deleted_records.amount,
        deleted_records.extended_total,

        -- timestamps
        deleted_records.scheduled_start,
        deleted_records.created_at as record_created_at,
        deleted_records.updated_at as record_updated_at,
        deleted_records.loaded_at as record_loaded_at,
        first_detections.known_deleted_at as deleted_at,
        first_detections.detected_at
    from first_detections
    left join deleted_records
        on
            deleted_records.entity_type = first_detections.entity_type
            and deleted_records.entity_id = first_detections.entity_id
)

select * from final
