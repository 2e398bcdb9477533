/*
description: "One row per contact, cleaned: trimmed text, empty strings as NULL, lower-case emails."
materialized: view
grain: contact_id
columns:
  contact_id: {description: The contact's serviceminder id., tests: [unique, not_null]}
  organization_id: {description: The franchise location that owns the contact., tests: [not_null]}
  name: Full name, trimmed.
  email: Lower-case email address, NULL when empty.
  city: City of the contact's address.
  customer_since: Date of the first sale.
  created_at: When the contact was created (local time).
*/
with source as (
    select * from raw.contacts
),

cleaned as (
    select
        id::bigint as contact_id,
        organization_id::bigint as organization_id,
        nullif(trim(name), '') as name,
        lower(nullif(trim(email), '')) as email,
        nullif(trim(city), '') as city,
        customer_since::date as customer_since,
        created_at::timestamp as created_at
    from source
)

select * from cleaned
