/*
description: >
  One row per live proposal (estimate). raw.proposals with `_id` keys, explicit types, trimmed text and empty text
  as NULL. Proposals deleted since their last load are left out: a raw.deletions row detected at or after the
  record's _loaded_at.
materialized: table
grain: [proposal_id]
columns:
  proposal_id:
    description: serviceminder's proposal Id.
    tests: [unique, not_null]
  organization_id:
    description: The organization that made the proposal.
    tests: [not_null]
  contact_id:
    description: The contact the proposal was made to.
  status:
    description: Open, Accepted, Declined or Expired.
    tests:
      - not_null
      - accepted_values: {values: [Open, Accepted, Declined, Expired]}
  total:
    description: The proposed price, DECIMAL(18,2).
  proposal_date:
    description: The day the proposal was made, local to the organization.
  expires_on:
    description: The last day the proposal can be accepted.
  accepted_at:
    description: When the customer accepted, local time; NULL unless accepted.
  created_at:
    description: When the proposal was created, local time.
  updated_at:
    description: When the proposal was last changed, local time.
  loaded_at:
    description: When this pipeline last received the record (UTC).
*/

with

proposals as (
    select * from raw.proposals
),

deletions as (
    select * from raw.deletions
),

live_proposals as (
    select proposals.*
    from proposals
    where not exists (
        select 1
        from deletions
        where
            deletions.entity_type = 'Proposal'
            and deletions.entity_id = proposals.id
            and deletions.detected_at >= proposals._loaded_at
    )
),

final as (
    select
        -- ids
        cast(id as bigint) as proposal_id,
        cast(organization_id as bigint) as organization_id,
        cast(contact_id as bigint) as contact_id,

        -- attributes
        nullif(trim(status), '') as status,

        -- numbers
        cast(total as decimal(18, 2)) as total,

        -- dates and timestamps
        cast(proposal_date as date) as proposal_date,
        cast(expires_on as date) as expires_on,
        cast(accepted_at as timestamp) as accepted_at,
        cast(created_at as timestamp) as created_at,
        cast(updated_at as timestamp) as updated_at,
        cast(_loaded_at as timestamp) as loaded_at
    from live_proposals
)

select * from final
