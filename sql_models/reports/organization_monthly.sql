/*
description: >
  One row per organization and calendar month, from the month of the organization's first activity to the month
  of its last (marts.dim_organizations), months without activity included with zeros. Each figure counts by its
  own date - appointments by scheduled month, customers by customer_since, invoices by invoice date, payments by
  payment date, proposals by proposal date - over live records only. Ratios are rounded half away from zero
  with integer arithmetic, so DuckDB and PostgreSQL give the same digits.
materialized: table
grain: [organization_id, month_start]
columns:
  organization_id:
    description: The organization.
    tests:
      - not_null
      - relationships: {to: marts.dim_organizations, field: organization_id}
  month_start:
    description: The first day of the calendar month.
    tests: [not_null]
  organization_name:
    description: The organization's name, from marts.dim_organizations.
  new_contacts:
    description: Contacts created in the month.
  new_customers:
    description: Contacts whose customer_since falls in the month.
  appointments_scheduled:
    description: Appointments whose scheduled start falls in the month, any status.
  appointments_completed:
    description: Of those, the ones with status Completed.
  appointments_canceled:
    description: Of those, the ones with status Canceled.
  invoices_issued:
    description: Invoices dated in the month that are not void.
  gross_sales:
    description: Sum of total over the non-void invoices dated in the month, DECIMAL(18,2).
  collected:
    description: Sum of the payments received in the month, DECIMAL(18,2).
  average_ticket:
    description: gross_sales / invoices_issued rounded to the cent, DECIMAL(18,2); NULL when no invoice.
  proposals_created:
    description: Proposals dated in the month.
  proposals_accepted:
    description: Of those, the ones with status Accepted.
  close_rate:
    description: >
      proposals_accepted / proposals_created rounded to 4 places, DECIMAL(9,4); NULL when no proposal. Proposals
      are counted by the month they were made, so a month's rate can still rise while its proposals are open.
tests:
  - expression: "appointments_completed + appointments_canceled <= appointments_scheduled"
  - expression: "proposals_accepted <= proposals_created"
  - expression: "close_rate between 0 and 1"
  - expression: "invoices_issued > 0 or gross_sales = 0"
*/

with recursive

organizations as (
    select * from marts.dim_organizations
),

contacts as (
    select * from marts.dim_contacts
),

appointments as (
    select * from marts.fct_appointments
),

invoices as (
    select * from marts.fct_invoices
),

payments as (
    select * from marts.fct_payments
),

proposals as (
    select * from marts.fct_proposals
),

-- one row per organization and month: a recursive CTE runs on DuckDB, PostgreSQL, Snowflake and BigQuery alike
months as (
    select
        organization_id,
        cast(date_trunc('month', first_activity_at) as date) as month_start,
        cast(date_trunc('month', last_activity_at) as date) as last_month
    from organizations
    where first_activity_at is not null
    union all
    select
        organization_id,
        cast(month_start + interval '1 month' as date) as month_start,
        last_month
    from months
    where month_start < last_month
),

contacts_monthly as (
    select
        organization_id,
        cast(date_trunc('month', created_at) as date) as month_start,
        count(*) as new_contacts
    from contacts
    where created_at is not null
    group by 1, 2
),

customers_monthly as (
    select
        organization_id,
        cast(date_trunc('month', cast(customer_since as timestamp)) as date) as month_start,
        count(*) as new_customers
    from contacts
    where customer_since is not null
    group by 1, 2
),

appointments_monthly as (
    select
        organization_id,
        cast(date_trunc('month', scheduled_start) as date) as month_start,
        count(*) as appointments_scheduled,
        count(case when status = 'Completed' then 1 end) as appointments_completed,
        count(case when status = 'Canceled' then 1 end) as appointments_canceled
    from appointments
    where scheduled_start is not null
    group by 1, 2
),

invoices_monthly as (
    select
        organization_id,
        cast(date_trunc('month', cast(invoice_date as timestamp)) as date) as month_start,
        count(*) as invoices_issued,
        sum(total) as gross_sales
    from invoices
    where invoice_date is not null and status <> 'Void'
    group by 1, 2
),

payments_monthly as (
    select
        organization_id,
        cast(date_trunc('month', cast(payment_date as timestamp)) as date) as month_start,
        sum(amount) as collected
    from payments
    where payment_date is not null
    group by 1, 2
),

proposals_monthly as (
    select
        organization_id,
        cast(date_trunc('month', cast(proposal_date as timestamp)) as date) as month_start,
        count(*) as proposals_created,
        count(case when status = 'Accepted' then 1 end) as proposals_accepted
    from proposals
    where proposal_date is not null
    group by 1, 2
),

filled as (
    select
        months.organization_id,
        months.month_start,
        coalesce(contacts_monthly.new_contacts, 0) as new_contacts,
        coalesce(customers_monthly.new_customers, 0) as new_customers,
        coalesce(appointments_monthly.appointments_scheduled, 0) as appointments_scheduled,
        coalesce(appointments_monthly.appointments_completed, 0) as appointments_completed,
        coalesce(appointments_monthly.appointments_canceled, 0) as appointments_canceled,
        coalesce(invoices_monthly.invoices_issued, 0) as invoices_issued,
        cast(coalesce(invoices_monthly.gross_sales, 0) as decimal(18, 2)) as gross_sales,
        cast(coalesce(payments_monthly.collected, 0) as decimal(18, 2)) as collected,
        coalesce(proposals_monthly.proposals_created, 0) as proposals_created,
        coalesce(proposals_monthly.proposals_accepted, 0) as proposals_accepted
    from months
    left join contacts_monthly
        on contacts_monthly.organization_id = months.organization_id
        and contacts_monthly.month_start = months.month_start
    left join customers_monthly
        on customers_monthly.organization_id = months.organization_id
        and customers_monthly.month_start = months.month_start
    left join appointments_monthly
        on appointments_monthly.organization_id = months.organization_id
        and appointments_monthly.month_start = months.month_start
    left join invoices_monthly
        on invoices_monthly.organization_id = months.organization_id
        and invoices_monthly.month_start = months.month_start
    left join payments_monthly
        on payments_monthly.organization_id = months.organization_id
        and payments_monthly.month_start = months.month_start
    left join proposals_monthly
        on proposals_monthly.organization_id = months.organization_id
        and proposals_monthly.month_start = months.month_start
),

-- Ratios in whole units (cents, ten-thousandths), rounded half away from zero as round(n / d) with exact integer
-- arithmetic: (2|n| + d) - ((2|n| + d) % 2d) is a multiple of 2d, so the division is exact on every warehouse.
-- DuckDB divides decimals in floating point, which would round some half-cents differently from PostgreSQL.
ratio_parts as (
    select
        filled.*,
        cast(gross_sales * 100 as bigint) as gross_sales_cents,
        case when gross_sales < 0 then -1 else 1 end as gross_sales_sign,
        2 * abs(cast(gross_sales * 100 as bigint)) + invoices_issued as ticket_numerator,
        2 * proposals_accepted * 10000 + proposals_created as close_numerator
    from filled
),

ratios as (
    select
        ratio_parts.*,
        case
            when invoices_issued > 0
                then gross_sales_sign * cast(
                    (ticket_numerator - ticket_numerator % (2 * invoices_issued)) / (2 * invoices_issued) as bigint
                )
        end as average_ticket_cents,
        case
            when proposals_created > 0
                then cast(
                    (close_numerator - close_numerator % (2 * proposals_created)) / (2 * proposals_created) as bigint
                )
        end as close_rate_basis_points
    from ratio_parts
),

final as (
    select
        -- ids
        ratios.organization_id,
        ratios.month_start,

        -- attributes
        organizations.organization_name,

        -- numbers
        ratios.new_contacts,
        ratios.new_customers,
        ratios.appointments_scheduled,
        ratios.appointments_completed,
        ratios.appointments_canceled,
        ratios.invoices_issued,
        ratios.gross_sales,
        ratios.collected,
        cast(cast(ratios.average_ticket_cents as decimal(18, 0)) * 0.01 as decimal(18, 2)) as average_ticket,
        ratios.proposals_created,
        ratios.proposals_accepted,
        cast(cast(ratios.close_rate_basis_points as decimal(9, 0)) * 0.0001 as decimal(9, 4)) as close_rate
    from ratios
    inner join organizations on organizations.organization_id = ratios.organization_id
)

select * from final
