/*
description: One row per organization and calendar month from its first to its last appointment, zeros filled in.
grain: [organization_id, month]
columns:
  organization_id: The franchise location.
  month: First day of the month.
  month_label: The month as YYYY-MM.
  appointments_completed: Completed appointments scheduled in the month.
  completed_value: Their subtotal.
  average_ticket: completed_value / appointments_completed, NULL without completed appointments.
tests:
  - expression: "appointments_completed >= 0"
  - unique: {columns: [organization_id, month_label]}
*/
with appointments as (
    select * from marts.fct_appointments
),

bounds as (
    select
        organization_id,
        min(scheduled_month) as first_month,
        max(scheduled_month) as last_month
    from appointments
    group by organization_id
),

months as (
    select
        b.organization_id,
        s.month::date as month
    from bounds as b,
        generate_series(date '2000-01-01', date '2040-12-01', interval '1 month') as s(month)
    where s.month between b.first_month and b.last_month
),

completed as (
    select
        organization_id,
        scheduled_month as month,
        count(*) as appointments_completed,
        sum(subtotal) as completed_value
    from appointments
    where status = 'Completed'
    group by organization_id, scheduled_month
)

select
    m.organization_id,
    m.month,
    strftime(m.month, '%Y-%m') as month_label,
    coalesce(c.appointments_completed, 0) as appointments_completed,
    coalesce(c.completed_value, 0)::decimal(18, 2) as completed_value,
    (c.completed_value / nullif(c.appointments_completed, 0))::decimal(18, 2) as average_ticket
from months as m
left join completed as c on c.organization_id = m.organization_id and c.month = m.month
