/*
description: >
  One row per live contact. raw.contacts with `_id` keys, explicit types, trimmed text and empty text as NULL.
  Contacts deleted since their last load are left out: a raw.deletions row for the contact detected at or after
  the record's _loaded_at (a contact downloaded again after that detection is live again).
  Extra brand columns of the download are not carried here; query raw.contacts for them.
materialized: table
grain: [contact_id]
columns:
  contact_id:
    description: serviceminder's contact Id.
    tests: [unique, not_null]
  organization_id:
    description: The organization (franchise location) the contact belongs to.
    tests: [not_null]
  organization_name:
    description: The organization's name as written on this contact's record.
  name:
    description: The contact's name as entered (a person, or "Last, First").
  company:
    description: Company name, for commercial contacts.
  email:
    description: Email address.
  primary_phone:
    description: Primary phone number, as text exactly as entered.
  alt_phone:
    description: Alternate phone number, as text.
  address1:
    description: Street address, first line.
  address2:
    description: Street address, second line (suite, unit).
  city:
    description: City.
  state:
    description: State or province code.
  postal_code:
    description: Postal code as text, so leading zeros stay.
  category:
    description: Customer, Prospect, Lead or Inactive.
    tests:
      - accepted_values: {values: [Customer, Prospect, Lead, Inactive], severity: warn}
  lead_source:
    description: Where the contact came from (Google, Referral, ...).
  channel:
    description: Marketing channel.
  campaign:
    description: Marketing campaign.
  tags:
    description: Free-form tags as one text.
  digital_tracking_id:
    description: Click id from online advertising (gclid, fbclid, ...), as text.
  do_not_email:
    description: True when the contact must not be emailed.
  do_not_text:
    description: True when the contact must not be sent text messages.
  lifetime_value:
    description: serviceminder's own lifetime value figure for the contact, DECIMAL(18,2).
  customer_since:
    description: The day the contact became a customer (first completed work); NULL for prospects and leads.
  created_at:
    description: When the contact was created, local time of the organization.
  updated_at:
    description: When the contact was last changed, local time of the organization.
  loaded_at:
    description: When this pipeline last received the record (UTC).
*/

with

contacts as (
    select * from raw.contacts
),

deletions as (
    select * from raw.deletions
),

live_contacts as (
    select contacts.*
    from contacts
    where not exists (
        select 1
        from deletions
        where
            deletions.entity_type = 'Contact'
            and deletions.entity_id = contacts.id
            and deletions.detected_at >= contacts._loaded_at
    )
),

final as (
    select
        -- ids
        cast(id as bigint) as contact_id,
        cast(organization_id as bigint) as organization_id,

        -- attributes
        nullif(trim(organization), '') as organization_name,
        nullif(trim(name), '') as name,
        nullif(trim(company), '') as company,
        nullif(trim(email), '') as email,
        nullif(trim(primary_phone), '') as primary_phone,
        nullif(trim(alt_phone), '') as alt_phone,
        nullif(trim(address1), '') as address1,
        nullif(trim(address2), '') as address2,
        nullif(trim(city), '') as city,
        nullif(trim(state), '') as state,
        nullif(trim(postal_code), '') as postal_code,
        nullif(trim(category), '') as category,
        nullif(trim(lead_source), '') as lead_source,
        nullif(trim(channel), '') as channel,
        nullif(trim(campaign), '') as campaign,
        nullif(trim(tags), '') as tags,
        nullif(trim(digital_tracking_id), '') as digital_tracking_id,
        cast(do_not_email as boolean) as do_not_email,
        cast(do_not_text as boolean) as do_not_text,

        -- numbers
        cast(lifetime_value as decimal(18, 2)) as lifetime_value,

        -- dates and timestamps
        cast(customer_since as date) as customer_since,
        cast(created_at as timestamp) as created_at,
        cast(updated_at as timestamp) as updated_at,
        cast(_loaded_at as timestamp) as loaded_at
    from live_contacts
)

select * from final
