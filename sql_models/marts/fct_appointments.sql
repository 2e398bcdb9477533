/*
description: >
  One row per live appointment (job visit), one-off or an instance of a recurring series. serviceminder deletes and
  re-creates the future instances of a series with new Ids, so future recurring rows come and go between runs;
  past ones are stable.
materialized: table
grain: [appointment_id]
columns:
  appointment_id:
    description: serviceminder's appointment Id.
    tests: [unique, not_null]
  organization_id:
    description: The organization doing the work.
    tests:
      - not_null
      - relationships: {to: marts.dim_organizations, field: organization_id}
  contact_id:
    description: >
      The customer. May point to a contact that serviceminder has hard-deleted (it does not delete the contact's
      appointments with it), so the relationship test only warns.
    tests:
      - relationships: {to: marts.dim_contacts, field: contact_id, severity: warn}
  recurrence_id:
    description: The recurring series of the instance; NULL for one-off appointments.
  service:
    description: The service booked.
  service_agent:
    description: The technician or crew assigned; NULL while unassigned.
  status:
    description: Unassigned, Scheduled, Completed or Canceled.
    tests:
      - not_null
      - accepted_values: {values: [Unassigned, Scheduled, Completed, Canceled]}
  cancel_reason:
    description: Why the appointment was canceled; NULL unless canceled.
  is_recurring:
    description: True for an instance of a recurring series.
  duration_minutes:
    description: Planned duration in minutes.
  subtotal:
    description: The planned price of the work before discount and tax, DECIMAL(18,2).
  scheduled_date:
    description: The day of scheduled_start; reports count appointments by its month.
  scheduled_start:
    description: When the work is scheduled to start, local time.
  completed_at:
    description: When the work was completed, local time; NULL unless completed.
  canceled_at:
    description: When the appointment was canceled, local time; NULL unless canceled.
  created_at:
    description: When the appointment was created, local time.
  updated_at:
    description: When the appointment was last changed, local time.
tests:
  - expression: {expression: "status <> 'Completed' or completed_at is not null", severity: warn}
  - expression: {expression: "status <> 'Canceled' or canceled_at is not null", severity: warn}
*/

with

appointments as (
    select * from staging.stg_appointments
),

final as (
    select
        -- ids
        appointment_id,
        organization_id,
        contact_id,
        recurrence_id,

        -- attributes
        service,
        service_agent,
        status,
        cancel_reason,
        is_recurring,

        -- numbers
        duration_minutes,
        subtotal,

        -- dates and timestamps
        cast(scheduled_start as date) as scheduled_date,
        scheduled_start,
        completed_at,
        canceled_at,
        created_at,
        updated_at
    from appointments
)

select * from final
