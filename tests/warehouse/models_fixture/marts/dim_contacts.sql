/*
description: One row per contact, with appointment figures.
grain: contact_id
columns:
  contact_id: The contact's id.
  organization_id: The franchise location.
  name: Full name.
  email: Email address.
  city: City.
  customer_since: Date of the first sale.
  completed_appointments: Completed appointments.
  canceled_appointments: Canceled appointments.
  completed_value: Sum of completed appointments' subtotals.
  first_appointment_at: Earliest scheduled start.
  segment:
    description: new, regular or loyal.
    tests:
      - accepted_values: {values: [new, regular, loyal]}
*/
with contacts as (
    select * from staging.stg_contacts
),

appointments as (
    select * from marts.fct_appointments
),

per_contact as (
    select
        contact_id,
        count(*) filter (where status = 'Completed') as completed_appointments,
        count(*) filter (where status = 'Canceled') as canceled_appointments,
        sum(subtotal) filter (where status = 'Completed') as completed_value,
        min(scheduled_start) as first_appointment_at
    from appointments
    group by contact_id
)

select
    c.contact_id,
    c.organization_id,
    c.name,
    c.email,
    c.city,
    c.customer_since,
    coalesce(p.completed_appointments, 0) as completed_appointments,
    coalesce(p.canceled_appointments, 0) as canceled_appointments,
    coalesce(p.completed_value, 0)::decimal(18, 2) as completed_value,
    p.first_appointment_at,
    case
        when coalesce(p.completed_appointments, 0) = 0 then 'new'
        when p.completed_appointments < 3 then 'regular'
        else 'loyal'
    end as segment
from contacts as c
left join per_contact as p on p.contact_id = c.contact_id
