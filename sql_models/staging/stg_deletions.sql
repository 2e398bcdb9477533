/*
description: >
  One row per detection of a hard delete: raw.deletions, typed. serviceminder hard-deletes records and never says
  so in its downloads; the pipeline learns of a delete from the feed's Entity Deleted events (detected_by = feed)
  or because a full refresh no longer returns the record (detected_by = full_refresh). An entity detected both
  ways has two rows here; marts.fct_deletions keeps one.
materialized: table
grain: [entity_type, entity_id, detected_by]
columns:
  entity_type:
    description: What was deleted, as the feed names it - Contact, Appointment, Invoice, InvoiceLine, Proposal or Payment.
    tests:
      - not_null
      - accepted_values:
          values: [Contact, Appointment, Invoice, InvoiceLine, Proposal, Payment]
          severity: warn
  entity_id:
    description: The deleted record's Id.
    tests: [not_null]
  organization_id:
    description: The organization the record belonged to, when known.
  event_id:
    description: The feed event that reported the delete; NULL for detected_by = full_refresh.
  detected_by:
    description: feed (an Entity Deleted event) or full_refresh (missing from a full download).
    tests:
      - not_null
      - accepted_values: {values: [feed, full_refresh]}
  deleted_at:
    description: When serviceminder deleted the record, local time, from the feed; NULL when unknown (full_refresh).
  detected_at:
    description: When this pipeline learned of the delete (UTC).
    tests: [not_null]
*/

with

deletions as (
    select * from raw.deletions
),

final as (
    select
        -- ids
        nullif(trim(entity_type), '') as entity_type,
        cast(entity_id as bigint) as entity_id,
        cast(organization_id as bigint) as organization_id,
        cast(event_id as bigint) as event_id,

        -- attributes
        nullif(trim(detected_by), '') as detected_by,

        -- timestamps
        cast(deleted_at as timestamp) as deleted_at,
        cast(detected_at as timestamp) as detected_at
    from deletions
)

select * from final
