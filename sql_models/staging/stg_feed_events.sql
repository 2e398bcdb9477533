/*
description: >
  One row per event received from serviceminder's event feed: raw.feed_events, typed, with the few fields of the
  event payload that are not already columns. The feed is a queue that is cleared after loading, so this is the
  only record of the events. Event Ids grow monotonically; re-delivered events are merged on event_id by the loader.
materialized: table
grain: [event_id]
columns:
  event_id:
    description: The event's Id in the brand's feed.
    tests: [unique, not_null]
  organization_id:
    description: The organization the event is about.
  contact_id:
    description: The contact of the event's contact block; NULL for Entity Deleted events.
  entity_id:
    description: The Id of the invoice, appointment or proposal the event is about, or of the deleted record.
  transaction_kind:
    description: serviceminder's TransactionKind - 0 Invoice, 1 Appointment, 2 Proposal, 3 Delete.
    tests:
      - accepted_values: {values: [0, 1, 2, 3], severity: warn}
  event_type:
    description: Invoice Generated, Appointment Complete, Proposal or Entity Deleted.
  entity_type:
    description: Invoice, Appointment or Proposal; for Entity Deleted events the type of the deleted record.
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
    tests: [not_null]
*/

with

feed_events as (
    select * from raw.feed_events
),

with_payload as (
    -- json on DuckDB; json or jsonb on PostgreSQL, depending on the dlt version: the cast makes both work
    select
        feed_events.*,
        cast(payload as json) as payload_json
    from feed_events
),

final as (
    select
        -- ids
        cast(event_id as bigint) as event_id,
        cast(organization_id as bigint) as organization_id,
        cast(contact_id as bigint) as contact_id,
        cast(entity_id as bigint) as entity_id,

        -- attributes
        cast(transaction_kind as bigint) as transaction_kind,
        nullif(trim(event_type), '') as event_type,
        nullif(trim(entity_type), '') as entity_type,
        case when transaction_kind = 0 then nullif(trim(payload_json ->> 'InvoiceNumber'), '') end as invoice_number,
        case when transaction_kind = 1 then nullif(trim(payload_json ->> 'Service'), '') end as service,
        case when transaction_kind = 2 then nullif(trim(payload_json ->> 'Status'), '') end as proposal_status,

        -- numbers
        cast(subtotal as decimal(18, 2)) as subtotal,
        cast(total as decimal(18, 2)) as total,
        cast(lifetime_value as decimal(18, 2)) as lifetime_value,

        -- timestamps
        cast(transaction_date as timestamp) as transaction_date,
        cast(deleted_at as timestamp) as deleted_at,
        cast(received_at as timestamp) as received_at
    from with_payload
)

select * from final
