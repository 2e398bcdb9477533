/*
description: One row per appointment, with its place in the contact's history.
grain: [appointment_id]
columns:
  appointment_id: The appointment's id.
  organization_id: The franchise location.
  contact_id:
    description: The customer.
    tests:
      - not_null
      - relationships: {to: marts.dim_contacts, field: contact_id}
  status: Scheduled, Completed or Canceled.
  scheduled_start: Local start time.
  scheduled_date: Local start date.
  scheduled_month: First day of the start month.
  month_label: Start month as YYYY-MM.
  ends_at: Planned end time.
  visit_number: 1 for the contact's first appointment, then 2, 3, ...
  days_since_previous: Days since the contact's previous appointment, NULL for the first.
  subtotal:
    description: Price before tax.
    tests:
      - expression: "subtotal >= 0"
tests:
  - expression: "ends_at >= scheduled_start"
  - row_count: {min: 1}
*/
with appointments as (
    select * from staging.stg_appointments
),

ordered as (
    select
        *,
        row_number() over (partition by contact_id order by scheduled_start, appointment_id) as visit_number,
        lag(scheduled_start) over (partition by contact_id order by scheduled_start, appointment_id) as previous_start
    from appointments
)

select
    appointment_id,
    organization_id,
    contact_id,
    status,
    scheduled_start,
    scheduled_start::date as scheduled_date,
    date_trunc('month', scheduled_start)::date as scheduled_month,
    strftime(scheduled_start, '%Y-%m') as month_label,
    scheduled_start + duration_minutes * interval '1 minute' as ends_at,
    visit_number,
    scheduled_start::date - previous_start::date as days_since_previous,
    subtotal
from ordered
