/*
description: >
  One row per event received from serviceminder's event feed, typed: Invoice Generated, Appointment Complete,
  Proposal and Entity Deleted. Events are history - an event about a record that was deleted later stays here.
  The contact block's personal fields stay in raw.feed_events.payload; use marts.dim_contacts for contact details.
materialized: table
grain: [event_id]
columns:
  event_id:
    description: The event's Id; Ids grow with time within a brand's feed.
    tests: [unique, not_null]
  organization_id:
    description: >
      The organization the event is about. An organization whose records were all deleted since is no longer in
      dim_organizations, so the relationship test only warns.
    tests:
      - relationships: {to: marts.dim_organizations, field: organization_id, severity: warn}
  contact_id:
    description: The contact of the event; NULL for Entity Deleted events.
  entity_id:
    description: The Id of the invoice, appointment or proposal the event is about, or of the deleted record.
  transaction_kind:
    description: serviceminder's TransactionKind - 0 Invoice, 1 Appointment, 2 Proposal, 3 Delete.
    tests:
      - accepted_values: {values: [0, 1, 2, 3], severity: warn}
  event_type:
    description: Invoice Generated, Appointment Complete, Proposal or Entity Deleted.
  entity_type:
    description: >
      Invoice, Appointment or Proposal; for Entity Deleted events the type of the deleted record (Contact,
      Appointment, Invoice, InvoiceLine, Proposal or Payment).
  invoice_number:
    description: The invoice number of an Invoice Generated event.
  service:
    description: The service of an Appointment Complete event.
  proposal_status:
    description: The proposal's status carried by a Proposal event.
  subtotal:
    description: The event's Subtotal, DECIMAL(18,2).
  total:
    description: The invoice total of an Invoice Generated event, DECIMAL(18,2).
  lifetime_value:
    description: The contact's lifetime value when the event was raised, DECIMAL(18,2).
  transaction_date:
    description: When the transaction happened, local time.
  deleted_at:
    description: When the record was deleted (Entity Deleted events), local time.
  received_at:
    description: When this pipeline last fetched the event (UTC).
*/

with

feed_events as (
    select * from staging.stg_feed_events
),

final as (
    select
        -- ids
        event_id,
        organization_id,
        contact_id,
        entity_id,

        -- attributes
        transaction_kind,
        event_type,
        entity_type,
        invoice_number,
        service,
        proposal_status,

        -- numbers
        subtotal,
        total,
        lifetime_value,

        -- timestamps
        transaction_date,
        deleted_at,
        received_at
    from feed_events
)

select * from final
