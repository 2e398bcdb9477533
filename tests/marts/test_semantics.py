"""Small hand-made raw data with the awkward cases spelled out, built on DuckDB and on PostgreSQL.

Deletions: newer than the load (deleted), older than the load (the record came back), equal to the load, found by
both the feed and a full refresh, and of a record the warehouse never had. Text: trimmed, empty is NULL. Report:
a month spine over a year boundary with an all-zero month, void invoices left out, and ratios whose exact value
sits on a half (100.005 and 0.03125), where rounding a floating-point quotient goes the other way.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date, datetime
from decimal import Decimal

import pytest

from tests.marts.brand import build, connected, records
from tests.marts.raw_tables import create_raw, insert, record
from tests.warehouses import fresh_database
from warehouse.target import Target, parse_target

ORG = 1_000_100_010
NAME = "Squeegee Squad of Springfield"
T1 = datetime(2026, 3, 1, 6, 0)  # load and detection times (UTC)
T2 = datetime(2026, 3, 2, 6, 0)
T3 = datetime(2026, 3, 3, 6, 0)
LOCAL_DELETE = datetime(2026, 3, 1, 14, 5, 7)  # serviceminder's local deletion times
LOCAL_DELETE_2 = datetime(2026, 3, 2, 9, 30, 0)
LOCAL_DELETE_3 = datetime(2026, 3, 2, 11, 0, 0)


def deletion(entity_type: str, entity_id: int, detected_by: str, detected_at: datetime, **values: object) -> dict:
    return {
        "entity_type": entity_type,
        "entity_id": entity_id,
        "organization_id": ORG,
        "detected_by": detected_by,
        "detected_at": detected_at,
        **values,
    }


@pytest.fixture(scope="module", params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def built(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    """The cases below in raw tables, built once per warehouse for all the tests of this module."""
    if request.param == "duckdb":
        yield make(parse_target(f"duckdb:///{tmp_path_factory.mktemp('semantics')}/warehouse.duckdb"))
        return
    with fresh_database(request.getfixturevalue("postgres_admin_dsn")) as url:
        yield make(parse_target(url))


def make(target: Target) -> Target:
    with connected(target) as conn:
        create_raw(conn)
        insert(
            conn,
            "contacts",
            [
                record(101, ORG, T1, organization=NAME, name="Deleted after load", created_at=datetime(2026, 1, 2)),
                record(102, ORG, T3, organization=NAME, name="Came back", created_at=datetime(2026, 1, 5, 8)),
                record(
                    103,
                    ORG,
                    T1,
                    organization=f"  {NAME} ",
                    name="  Ada  ",
                    email="",
                    postal_code=" 02134",
                    category="Customer",
                    customer_since=date(2025, 12, 15),
                    created_at=datetime(2025, 10, 20, 9, 0),
                    updated_at=datetime(2026, 2, 11, 12, 0),
                ),
                record(104, ORG, T2, organization=NAME, name="Deleted at load time", created_at=datetime(2026, 1, 9)),
            ],
        )
        invoice = {"organization": NAME, "contact_id": 103, "invoice_date": date(2026, 2, 10)}
        insert(
            conn,
            "invoices",
            [
                record(201, ORG, T1, **invoice, status="Open", total=Decimal("100.00")),
                record(202, ORG, T1, **invoice, status="Paid", total=Decimal("100.01")),
                record(203, ORG, T1, **invoice, status="Void", total=Decimal("99.99")),
                record(204, ORG, T1, **invoice, status="Open", total=Decimal("55.55"), invoice_number="000204"),
            ],
        )
        insert(
            conn,
            "appointments",
            [
                record(
                    302,
                    ORG,
                    T1,
                    organization=NAME,
                    contact_id=103,
                    status="Completed",
                    scheduled_start=datetime(2026, 2, 11, 9, 0),
                    completed_at=datetime(2026, 2, 11, 11, 0),
                )
            ],
        )
        insert(
            conn,
            "payments",
            [
                record(
                    401,
                    ORG,
                    T1,
                    invoice_id=202,
                    payment_date=date(2026, 2, 12),
                    amount=Decimal("100.01"),
                    method="Card",
                )
            ],
        )
        proposals = [
            record(500 + i, ORG, T1, status="Accepted" if i == 0 else "Declined", proposal_date=date(2026, 1, 20))
            for i in range(32)
        ]
        insert(conn, "proposals", proposals)
        insert(
            conn,
            "deletions",
            [
                deletion("Contact", 101, "feed", T2, deleted_at=LOCAL_DELETE, event_id=7),
                deletion("Contact", 102, "full_refresh", T2),
                deletion("Contact", 104, "full_refresh", T2),
                deletion("Invoice", 204, "full_refresh", T2),
                deletion("Invoice", 204, "feed", T3, deleted_at=LOCAL_DELETE_2, event_id=9),
                deletion("Appointment", 301, "feed", T2, deleted_at=LOCAL_DELETE_3, event_id=8),
            ],
        )
        invoice_event = {"Id": 6, "TransactionKind": 0, "InvoiceId": 202, "InvoiceNumber": " 000202", "Service": "x"}
        insert(
            conn,
            "feed_events",
            [
                {
                    "event_id": 6,
                    "transaction_kind": 0,
                    "event_type": "Invoice Generated",
                    "organization_id": ORG,
                    "entity_type": "Invoice",
                    "entity_id": 202,
                    "total": Decimal("100.01"),
                    "received_at": T1,
                    "payload": json.dumps(invoice_event),
                }
            ],
        )
    result = build(target)
    assert result.ok, result.first_problem()
    return target


def test_staging_leaves_out_deleted_records_and_cleans_text(built: Target) -> None:
    with connected(built) as conn:
        contacts = records(conn, "marts.dim_contacts", "contact_id")
        invoices = records(conn, "marts.fct_invoices", "invoice_id")
        events = records(conn, "marts.fct_feed_events", "event_id")
    assert set(contacts) == {102, 103}  # 101 and 104 deleted; 102 was downloaded again after its detection
    assert contacts[103]["name"] == "Ada"
    assert contacts[103]["email"] is None
    assert contacts[103]["postal_code"] == "02134"
    assert set(invoices) == {201, 202, 203}
    assert events[6]["invoice_number"] == "000202"
    assert events[6]["service"] is None  # only Appointment Complete events carry a service


def test_fct_deletions_keeps_the_earliest_detection_and_the_last_known_figures(built: Target) -> None:
    with connected(built) as conn:
        names, rows = conn.query_with_names("select * from marts.fct_deletions")
    deletions = {(r[0], r[1]): dict(zip(names, r, strict=True)) for r in rows}
    assert set(deletions) == {("Contact", 101), ("Contact", 104), ("Invoice", 204), ("Appointment", 301)}

    contact = deletions[("Contact", 101)]
    assert (contact["detected_by"], contact["detected_at"], contact["deleted_at"]) == ("feed", T2, LOCAL_DELETE)
    assert contact["has_record"] is True and contact["record_loaded_at"] == T1

    invoice = deletions[("Invoice", 204)]
    assert (invoice["detected_by"], invoice["detected_at"]) == ("full_refresh", T2)  # earlier than the feed's
    assert invoice["deleted_at"] == LOCAL_DELETE_2  # only the feed knows when
    assert (invoice["total"], invoice["invoice_number"], invoice["contact_id"]) == (Decimal("55.55"), "000204", 103)

    appointment = deletions[("Appointment", 301)]
    assert appointment["has_record"] is False
    assert (appointment["organization_id"], appointment["deleted_at"]) == (ORG, LOCAL_DELETE_3)
    assert appointment["scheduled_start"] is None and appointment["record_loaded_at"] is None


def test_monthly_report_fills_zero_months_and_rounds_ratios_exactly(built: Target) -> None:
    with connected(built) as conn:
        names, rows = conn.query_with_names(
            "select * from reports.organization_monthly where organization_id = %s order by month_start", (ORG,)
        )
    months = {r[1]: dict(zip(names, r, strict=True)) for r in rows}
    assert list(months) == [date(2025, 10, 1), date(2025, 11, 1), date(2025, 12, 1), date(2026, 1, 1), date(2026, 2, 1)]
    assert all(m["organization_name"] == NAME for m in months.values())

    october, november, december, january, february = months.values()
    assert october["new_contacts"] == 1
    figures = [c for c in names if c not in ("organization_id", "month_start", "organization_name")]
    assert {c: november[c] for c in figures} == {
        c: (None if c in ("average_ticket", "close_rate") else 0) for c in figures
    }
    assert december["new_customers"] == 1
    assert (january["new_contacts"], january["proposals_created"], january["proposals_accepted"]) == (1, 32, 1)
    assert january["close_rate"] == Decimal("0.0313")  # 1/32 = 0.03125: half away from zero
    assert str(january["close_rate"]) == "0.0313"

    assert (february["invoices_issued"], february["gross_sales"]) == (2, Decimal("200.01"))  # the void one is out
    assert str(february["average_ticket"]) == "100.01"  # 200.01 / 2 = 100.005; round() of a double gives 100.00
    assert str(february["collected"]) == "100.01"
    assert (february["appointments_scheduled"], february["appointments_completed"]) == (1, 1)


def test_dimensions_summarize_the_live_records(built: Target) -> None:
    with connected(built) as conn:
        organizations = records(conn, "marts.dim_organizations", "organization_id")
        contacts = records(conn, "marts.dim_contacts", "contact_id")
    org = organizations[ORG]
    assert org["organization_name"] == NAME
    assert (org["contacts"], org["customers"], org["invoices"]) == (2, 1, 2)
    assert str(org["gross_sales"]) == "200.01"
    assert org["first_activity_at"] == datetime(2025, 10, 20, 9, 0)
    assert org["last_activity_at"] == datetime(2026, 2, 12)
    ada = contacts[103]
    assert (ada["completed_appointments"], str(ada["lifetime_invoiced"]), str(ada["lifetime_paid"])) == (
        1,
        "200.01",
        "0.00",  # the payment has no contact_id
    )
    assert ada["last_completed_appointment_at"] == datetime(2026, 2, 11, 11, 0)
    assert contacts[102]["completed_appointments"] == 0 and str(contacts[102]["lifetime_invoiced"]) == "0.00"
