/*
description: One row per appointment with a normalized status.
materialized: table
grain: [appointment_id]
columns:
  appointment_id: The appointment's id.
  organization_id: The franchise location.
  contact_id:
    description: The customer.
    tests:
      - relationships: {to: staging.stg_contacts, field: contact_id}
  status:
    description: Scheduled, Completed or Canceled.
    tests:
      - accepted_values: {values: [Scheduled, Completed, Canceled]}
  scheduled_start: Local start time.
  duration_minutes: Planned duration.
  subtotal: Price before tax.
*/
select
    id as appointment_id,
    organization_id,
    contact_id,
    case lower(trim(status))
        when 'scheduled' then 'Scheduled'
        when 'completed' then 'Completed'
        when 'canceled' then 'Canceled'
        when 'cancelled' then 'Canceled'
    end as status,
    scheduled_start,
    duration_minutes::integer as duration_minutes,
    coalesce(subtotal, 0)::decimal(18, 2) as subtotal
from raw.appointments
