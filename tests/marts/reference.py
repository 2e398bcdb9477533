"""What the marts must hold, computed in plain Python straight from the sandbox's truth (no SQL involved).

Money is summed as ``Decimal``; ratios are rounded half away from zero, as the report documents.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from pipelines.sandbox import Truth
from pipelines.serviceminder.kinds import KINDS_BY_KEY

CENT = Decimal("0.01")
RATE = Decimal("0.0001")
ZERO = Decimal("0.00")

# mart -> (kind key, key column); the other columns are the kind's, renamed as staging renames them
FACTS: dict[str, tuple[str, str]] = {
    "marts.dim_contacts": ("contacts", "contact_id"),
    "marts.fct_appointments": ("appointments", "appointment_id"),
    "marts.fct_invoices": ("invoices", "invoice_id"),
    "marts.fct_invoice_lines": ("invoice_lines", "invoice_line_id"),
    "marts.fct_proposals": ("proposals", "proposal_id"),
    "marts.fct_payments": ("payments", "payment_id"),
}
RENAMED = {"recurring": "is_recurring", "taxable": "is_taxable", "organization": "organization_name"}


def clean(value: Any) -> Any:
    """Staging's text rule: trimmed, and empty text is NULL."""
    if isinstance(value, str):
        return value.strip() or None
    return value


def mart_column(column: str, key_column: str) -> str:
    return key_column if column == "id" else RENAMED.get(column, column)


def expected_fact_row(kind_key: str, record: dict[str, Any], key_column: str) -> dict[str, Any]:
    """The truth record with mart column names (the columns a mart leaves out are simply not compared)."""
    row = {mart_column(c, key_column): clean(record[c]) for c in KINDS_BY_KEY[kind_key].column_names}
    if kind_key == "appointments" and row["scheduled_start"] is not None:
        row["scheduled_date"] = row["scheduled_start"].date()
    return row


def month_of(value: date | datetime) -> date:
    return date(value.year, value.month, 1)


def months_between(first: date, last: date) -> Iterable[date]:
    month = first
    while month <= last:
        yield month
        month = date(month.year + month.month // 12, month.month % 12 + 1, 1)


def as_datetime(value: date | datetime) -> datetime:
    return value if isinstance(value, datetime) else datetime(value.year, value.month, value.day)


def organization_ids(truth: Truth) -> set[int]:
    return {r["organization_id"] for records in truth.live.values() for r in records.values()}


def activity_dates(truth: Truth) -> dict[int, list[date | datetime]]:
    """Per organization, every date the report counts by (see marts.dim_organizations)."""
    out: dict[int, list[date | datetime]] = defaultdict(list)
    picks = {
        "contacts": ("created_at", "customer_since"),
        "appointments": ("scheduled_start",),
        "invoices": ("invoice_date",),
        "payments": ("payment_date",),
        "proposals": ("proposal_date",),
    }
    for kind_key, columns in picks.items():
        for record in truth.live[kind_key].values():
            for column in columns:
                if record[column] is not None:
                    out[record["organization_id"]].append(record[column])
    return out


def rounded_ratio(numerator: Decimal | int, denominator: int, unit: Decimal) -> Decimal | None:
    if denominator == 0:
        return None
    return (Decimal(numerator) / Decimal(denominator)).quantize(unit, rounding=ROUND_HALF_UP)


def organizations(truth: Truth, names: dict[int, str]) -> dict[int, dict[str, Any]]:
    """marts.dim_organizations, by organization_id."""
    live = truth.live
    activity = activity_dates(truth)
    out: dict[int, dict[str, Any]] = {}
    for org in organization_ids(truth):
        contacts = [c for c in live["contacts"].values() if c["organization_id"] == org]
        invoices = [i for i in live["invoices"].values() if i["organization_id"] == org and i["status"] != "Void"]
        dates = [as_datetime(d) for d in activity.get(org, [])]
        out[org] = {
            "organization_id": org,
            "organization_name": names[org],
            "contacts": len(contacts),
            "customers": sum(1 for c in contacts if c["customer_since"] is not None),
            "appointments": sum(1 for a in live["appointments"].values() if a["organization_id"] == org),
            "invoices": len(invoices),
            "gross_sales": sum((i["total"] for i in invoices), ZERO),
            "collected": sum((p["amount"] for p in live["payments"].values() if p["organization_id"] == org), ZERO),
            "first_activity_at": min(dates) if dates else None,
            "last_activity_at": max(dates) if dates else None,
        }
    return out


def contact_figures(truth: Truth) -> dict[int, dict[str, Any]]:
    """The derived columns of marts.dim_contacts, by contact_id."""
    live = truth.live
    out = {
        cid: {
            "completed_appointments": 0,
            "lifetime_invoiced": ZERO,
            "lifetime_paid": ZERO,
            "first_appointment_at": None,
            "last_completed_appointment_at": None,
            "is_customer": contact["customer_since"] is not None,
        }
        for cid, contact in live["contacts"].items()
    }
    for a in live["appointments"].values():
        row = out.get(a["contact_id"])
        if row is None:
            continue
        if a["scheduled_start"] is not None and (
            row["first_appointment_at"] is None or a["scheduled_start"] < row["first_appointment_at"]
        ):
            row["first_appointment_at"] = a["scheduled_start"]
        if a["status"] == "Completed":
            row["completed_appointments"] += 1
            done = a["completed_at"]
            if done is not None and (
                row["last_completed_appointment_at"] is None or done > row["last_completed_appointment_at"]
            ):
                row["last_completed_appointment_at"] = done
    for i in live["invoices"].values():
        if i["contact_id"] in out and i["status"] != "Void":
            out[i["contact_id"]]["lifetime_invoiced"] += i["total"]
    for p in live["payments"].values():
        if p["contact_id"] in out:
            out[p["contact_id"]]["lifetime_paid"] += p["amount"]
    return out


def organization_monthly(truth: Truth, names: dict[int, str]) -> dict[tuple[int, date], dict[str, Any]]:
    """reports.organization_monthly, by (organization_id, month_start), zero months included."""
    live = truth.live
    counts: dict[tuple[int, date], dict[str, Any]] = defaultdict(lambda: defaultdict(int))

    def add(org: int, when: date | datetime | None, column: str, amount: Any = 1) -> None:
        if when is not None:
            counts[(org, month_of(when))][column] += amount

    for c in live["contacts"].values():
        add(c["organization_id"], c["created_at"], "new_contacts")
        add(c["organization_id"], c["customer_since"], "new_customers")
    for a in live["appointments"].values():
        add(a["organization_id"], a["scheduled_start"], "appointments_scheduled")
        if a["status"] == "Completed":
            add(a["organization_id"], a["scheduled_start"], "appointments_completed")
        if a["status"] == "Canceled":
            add(a["organization_id"], a["scheduled_start"], "appointments_canceled")
    for i in live["invoices"].values():
        if i["status"] != "Void":
            add(i["organization_id"], i["invoice_date"], "invoices_issued")
            add(i["organization_id"], i["invoice_date"], "gross_sales", i["total"])
    for p in live["payments"].values():
        add(p["organization_id"], p["payment_date"], "collected", p["amount"])
    for p in live["proposals"].values():
        add(p["organization_id"], p["proposal_date"], "proposals_created")
        if p["status"] == "Accepted":
            add(p["organization_id"], p["proposal_date"], "proposals_accepted")

    out: dict[tuple[int, date], dict[str, Any]] = {}
    for org, dates in activity_dates(truth).items():
        for month in months_between(month_of(min(map(as_datetime, dates))), month_of(max(map(as_datetime, dates)))):
            got = counts.get((org, month), {})
            gross = Decimal(got.get("gross_sales", 0)).quantize(CENT)
            issued = got.get("invoices_issued", 0)
            created = got.get("proposals_created", 0)
            accepted = got.get("proposals_accepted", 0)
            out[(org, month)] = {
                "organization_id": org,
                "month_start": month,
                "organization_name": names[org],
                "new_contacts": got.get("new_contacts", 0),
                "new_customers": got.get("new_customers", 0),
                "appointments_scheduled": got.get("appointments_scheduled", 0),
                "appointments_completed": got.get("appointments_completed", 0),
                "appointments_canceled": got.get("appointments_canceled", 0),
                "invoices_issued": issued,
                "gross_sales": gross,
                "collected": Decimal(got.get("collected", 0)).quantize(CENT),
                "average_ticket": rounded_ratio(gross, issued, CENT),
                "proposals_created": created,
                "proposals_accepted": accepted,
                "close_rate": rounded_ratio(accepted, created, RATE),
            }
    return out
