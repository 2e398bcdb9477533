/*
description: >
  One row per live contact (customer, prospect or lead), with what the contact has done: appointments, invoices
  and payments, from the live records. Contacts that serviceminder hard-deleted are not here (see
  marts.fct_deletions); their appointments, invoices and payments may still be, because serviceminder does not
  delete a contact's records with it.
materialized: table
grain: [contact_id]
columns:
  contact_id:
    description: serviceminder's contact Id.
    tests: [unique, not_null]
  organization_id:
    description: The organization (franchise location) the contact belongs to.
    tests:
      - not_null
      - relationships: {to: marts.dim_organizations, field: organization_id}
  name:
    description: The contact's name as entered.
  company:
    description: Company name, for commercial contacts.
  email:
    description: Email address.
  primary_phone:
    description: Primary phone number, as text.
  alt_phone:
    description: Alternate phone number, as text.
  address1:
    description: Street address, first line.
  address2:
    description: Street address, second line.
  city:
    description: City.
  state:
    description: State or province code.
  postal_code:
    description: Postal code as text (leading zeros kept).
  category:
    description: Customer, Prospect, Lead or Inactive, as serviceminder has it.
    tests:
      - accepted_values: {values: [Customer, Prospect, Lead, Inactive], severity: warn}
  lead_source:
    description: Where the contact came from.
  channel:
    description: Marketing channel.
  campaign:
    description: Marketing campaign.
  tags:
    description: Free-form tags as one text.
  digital_tracking_id:
    description: Click id from online advertising, as text.
  is_customer:
    description: True when the contact has become a customer (customer_since is set).
    tests: [not_null]
  do_not_email:
    description: True when the contact must not be emailed.
  do_not_text:
    description: True when the contact must not be sent text messages.
  completed_appointments:
    description: Live appointments of the contact with status Completed.
    tests: [not_null]
  lifetime_value:
    description: serviceminder's own lifetime value figure, DECIMAL(18,2).
  lifetime_invoiced:
    description: Sum of total over the contact's live invoices that are not void, DECIMAL(18,2); 0 when none.
    tests: [not_null]
  lifetime_paid:
    description: Sum of the contact's live payments, DECIMAL(18,2); 0 when none.
    tests: [not_null]
  customer_since:
    description: The day the contact became a customer; NULL for prospects and leads.
  first_appointment_at:
    description: The earliest scheduled start of the contact's live appointments, any status, local time.
  last_completed_appointment_at:
    description: When the contact's most recent completed appointment was completed, local time.
  created_at:
    description: When the contact was created, local time.
  updated_at:
    description: When the contact was last changed, local time.
*/

with

contacts as (
    select * from staging.stg_contacts
),

appointments as (
    select * from staging.stg_appointments
),

invoices as (
    select * from staging.stg_invoices
),

payments as (
    select * from staging.stg_payments
),

appointment_summary as (
    select
        contact_id,
        min(scheduled_start) as first_appointment_at,
        max(case when status = 'Completed' then completed_at end) as last_completed_appointment_at,
        count(case when status = 'Completed' then 1 end) as completed_appointments
    from appointments
    where contact_id is not null
    group by contact_id
),

invoice_summary as (
    select
        contact_id,
        sum(total) as lifetime_invoiced
    from invoices
    where contact_id is not null and status <> 'Void'
    group by contact_id
),

payment_summary as (
    select
        contact_id,
        sum(amount) as lifetime_paid
    from payments
    where contact_id is not null
    group by contact_id
),

final as (
    select
        -- ids
        contacts.contact_id,
        contacts.organization_id,

        -- attributes
        contacts.name,
        contacts.company,
        contacts.email,
        contacts.primary_phone,
        contacts.alt_phone,
        contacts.address1,
        contacts.address2,
        contacts.city,
        contacts.state,
        contacts.postal_code,
        contacts.category,
        contacts.lead_source,
        contacts.channel,
        contacts.campaign,
        contacts.tags,
        contacts.digital_tracking_id,
        contacts.customer_since is not null as is_customer,
        contacts.do_not_email,
        contacts.do_not_text,

        -- numbers
        coalesce(appointment_summary.completed_appointments, 0) as completed_appointments,
        contacts.lifetime_value,
        cast(coalesce(invoice_summary.lifetime_invoiced, 0) as decimal(18, 2)) as lifetime_invoiced,
        cast(coalesce(payment_summary.lifetime_paid, 0) as decimal(18, 2)) as lifetime_paid,

        -- dates and timestamps
        contacts.customer_since,
        appointment_summary.first_appointment_at,
        appointment_summary.last_completed_appointment_at,
        contacts.created_at,
        contacts.updated_at
    from contacts
    left join appointment_summary on appointment_summary.contact_id = contacts.contact_id
    left join invoice_summary on invoice_summary.contact_id = contacts.contact_id
    left join payment_summary on payment_summary.contact_id = contacts.contact_id
)

select * from final
