/*
description: >
  One row per organization (franchise location) that has at least one live record. serviceminder's downloads have
  no organization list, so the organizations are the organization_ids of the live records of every kind. The
  name is the one on the most recently updated contact, appointment or invoice. Activity means the dates the
  reports count by - contact created, customer since, appointment scheduled start, invoice date, payment date and
  proposal date - so reports.organization_monthly runs from first_activity_at to last_activity_at.
materialized: table
grain: [organization_id]
columns:
  organization_id:
    description: serviceminder's organization Id.
    tests: [unique, not_null]
  organization_name:
    description: >
      The organization's name on its most recently updated contact, appointment or invoice; NULL when it has none
      of those.
    tests:
      - not_null: {severity: warn}
  first_activity_at:
    description: The organization's earliest activity (see the model description), local time.
  last_activity_at:
    description: The organization's latest activity, local time; future scheduled appointments count.
  contacts:
    description: Live contacts of the organization.
  customers:
    description: Live contacts that have become customers (customer_since is set).
  appointments:
    description: Live appointments of the organization, any status.
  invoices:
    description: Live invoices that are not void.
  gross_sales:
    description: Sum of total over the live non-void invoices, DECIMAL(18,2).
  collected:
    description: Sum of the live payments' amounts, DECIMAL(18,2).
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

invoice_lines as (
    select * from staging.stg_invoice_lines
),

proposals as (
    select * from staging.stg_proposals
),

payments as (
    select * from staging.stg_payments
),

named_records as (
    select organization_id, organization_name, updated_at, 1 as source_rank, contact_id as record_id
    from contacts
    union all
    select organization_id, organization_name, updated_at, 2 as source_rank, appointment_id as record_id
    from appointments
    union all
    select organization_id, organization_name, updated_at, 3 as source_rank, invoice_id as record_id
    from invoices
),

ranked_names as (
    select
        organization_id,
        organization_name,
        row_number() over (
            partition by organization_id
            order by
                case when updated_at is null then 1 else 0 end,
                updated_at desc,
                source_rank,
                record_id desc
        ) as name_rank
    from named_records
    where organization_name is not null
),

latest_names as (
    select organization_id, organization_name
    from ranked_names
    where name_rank = 1
),

activity as (
    select organization_id, created_at as activity_at from contacts
    union all
    select organization_id, cast(customer_since as timestamp) as activity_at from contacts
    union all
    select organization_id, scheduled_start as activity_at from appointments
    union all
    select organization_id, cast(invoice_date as timestamp) as activity_at from invoices
    union all
    select organization_id, cast(payment_date as timestamp) as activity_at from payments
    union all
    select organization_id, cast(proposal_date as timestamp) as activity_at from proposals
    union all
    select organization_id, cast(null as timestamp) as activity_at from invoice_lines
),

activity_span as (
    select
        organization_id,
        min(activity_at) as first_activity_at,
        max(activity_at) as last_activity_at
    from activity
    group by organization_id
),

contact_counts as (
    select
        organization_id,
        count(*) as contacts,
        count(customer_since) as customers
    from contacts
    group by organization_id
),

appointment_counts as (
    select
        organization_id,
        count(*) as appointments
    from appointments
    group by organization_id
),

invoice_sums as (
    select
        organization_id,
        count(*) as invoices,
        sum(total) as gross_sales
    from invoices
    where status <> 'Void'
    group by organization_id
),

payment_sums as (
    select
        organization_id,
        sum(amount) as collected
    from payments
    group by organization_id
),

final as (
    select
        -- ids
        activity_span.organization_id,

        -- attributes
        latest_names.organization_name,

        -- numbers
        coalesce(contact_counts.contacts, 0) as contacts,
        coalesce(contact_counts.customers, 0) as customers,
        coalesce(appointment_counts.appointments, 0) as appointments,
        coalesce(invoice_sums.invoices, 0) as invoices,
        cast(coalesce(invoice_sums.gross_sales, 0) as decimal(18, 2)) as gross_sales,
        cast(coalesce(payment_sums.collected, 0) as decimal(18, 2)) as collected,

        -- timestamps
        activity_span.first_activity_at,
        activity_span.last_activity_at
    from activity_span
    left join latest_names on latest_names.organization_id = activity_span.organization_id
    left join contact_counts on contact_counts.organization_id = activity_span.organization_id
    left join appointment_counts on appointment_counts.organization_id = activity_span.organization_id
    left join invoice_sums on invoice_sums.organization_id = activity_span.organization_id
    left join payment_sums on payment_sums.organization_id = activity_span.organization_id
)

select * from final
