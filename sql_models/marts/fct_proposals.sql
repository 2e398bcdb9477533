/*
description: One row per live proposal (estimate).
materialized: table
grain: [proposal_id]
columns:
  proposal_id:
    description: serviceminder's proposal Id.
    tests: [unique, not_null]
  organization_id:
    description: The organization that made the proposal.
    tests:
      - not_null
      - relationships: {to: marts.dim_organizations, field: organization_id}
  contact_id:
    description: >
      The contact the proposal was made to. May point to a hard-deleted contact (serviceminder keeps the
      proposals), so the relationship test only warns.
    tests:
      - relationships: {to: marts.dim_contacts, field: contact_id, severity: warn}
  status:
    description: Open, Accepted, Declined or Expired.
    tests:
      - not_null
      - accepted_values: {values: [Open, Accepted, Declined, Expired]}
  total:
    description: The proposed price, DECIMAL(18,2).
  proposal_date:
    description: The day the proposal was made; reports count proposals by its month.
  expires_on:
    description: The last day the proposal can be accepted.
  accepted_at:
    description: When the customer accepted, local time; NULL unless accepted.
  created_at:
    description: When the proposal was created, local time.
  updated_at:
    description: When the proposal was last changed, local time.
tests:
  - expression: {expression: "status <> 'Accepted' or accepted_at is not null", severity: warn}
*/

with

proposals as (
    select * from staging.stg_proposals
),

final as (
    select
        -- ids
        proposal_id,
        organization_id,
        contact_id,

        -- attributes
        status,

        -- numbers
        total,

        -- dates and timestamps
        proposal_date,
        expires_on,
        accepted_at,
        created_at,
        updated_at
    from proposals
)

select * from final
