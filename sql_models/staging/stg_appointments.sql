/*
description: >
  One row per live appointment (a job visit; recurring series have one row per instance). raw.appointments with
  `_id` keys, explicit types, trimmed text and empty text as NULL. Appointments deleted since their last load are
  left out: a raw.deletions row detected at or after the record's _loaded_at. serviceminder deletes and re-creates
  the future instances of recurring series with new Ids, so those come and go here.
materialized: table
grain: [appointment_id]
columns:
  appointment_id:
    description: serviceminder's appointment Id.
    tests: [unique, not_null]
  organization_id:
    description: The organization (franchise location) doing the work.
    tests: [not_null]
  contact_id:
    description: The customer the appointment is for.
  recurrence_id:
    description: The recurring series this instance belongs to; NULL for one-off appointments.
  organization_name:
    description: The organization's name as written on this appointment's record.
  service:
    description: The service booked (e.g. window cleaning).
  service_agent:
    description: The technician or crew assigned; NULL while unassigned.
  status:
    description: Unassigned, Scheduled, Completed or Canceled (one l, as serviceminder spells it).
    tests:
      - not_null
      - accepted_values: {values: [Unassigned, Scheduled, Completed, Canceled]}
  cancel_reason:
    description: Why the appointment was canceled; NULL unless canceled.
  is_recurring:
    description: True when the appointment is an instance of a recurring series.
  duration_minutes:
    description: Planned duration in minutes.
  subtotal:
    description: The planned price of the work before discount and tax, DECIMAL(18,2).
  scheduled_start:
    description: When the work is scheduled to start, local time of the organization.
  completed_at:
    description: When the work was marked completed, local time; NULL unless completed.
  canceled_at:
    description: When the appointment was canceled, local time; NULL unless canceled.
  created_at:
    description: When the appointment was created, local time.
  updated_at:
    description: When the appointment was last changed, local time.
  loaded_at:
    description: When this pipeline last received the record (UTC).
*/

with

appointments as (
    select * from raw.appointments
),

deletions as (
    select * from raw.deletions
),

live_appointments as (
    select appointments.*
    from appointments
    where not exists (
        select 1
        from deletions
        where
            deletions.entity_type = 'Appointment'
            and deletions.entity_id = appointments.id
            and deletions.detected_at >= appointments._loaded_at
    )
),

final as (
    select
        -- ids
        cast(id as bigint) as appointment_id,
        cast(organization_id as bigint) as organization_id,
        cast(contact_id as bigint) as contact_id,
        cast(recurrence_id as bigint) as recurrence_id,

        -- attributes
        nullif(trim(organization), '') as organization_name,
        nullif(trim(service), '') as service,
        nullif(trim(service_agent), '') as service_agent,
        nullif(trim(status), '') as status,
        nullif(trim(cancel_reason), '') as cancel_reason,
        cast(recurring as boolean) as is_recurring,

        -- numbers
        cast(duration_minutes as bigint) as duration_minutes,
        cast(subtotal as decimal(18, 2)) as subtotal,

        -- timestamps
        cast(scheduled_start as timestamp) as scheduled_start,
        cast(completed_at as timestamp) as completed_at,
        cast(canceled_at as timestamp) as canceled_at,
        cast(created_at as timestamp) as created_at,
        cast(updated_at as timestamp) as updated_at,
        cast(_loaded_at as timestamp) as loaded_at
    from live_appointments
)

select * from final
