"""A few raw tables with awkward data (blanks, odd case, NULLs, month gaps), created identically on any target."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

from warehouse.target import Connection

FIXTURE_MODELS = Path(__file__).parent / "models_fixture"

CONTACTS_DDL = """create table raw.contacts (
    id bigint, organization_id bigint, name text, email text, city text, customer_since date, created_at timestamp
)"""
APPOINTMENTS_DDL = """create table raw.appointments (
    id bigint, organization_id bigint, contact_id bigint, status text, scheduled_start timestamp,
    duration_minutes bigint, subtotal decimal(18, 2)
)"""

CONTACTS = [
    (1, 10, "  Ada Lovelace ", "ADA@Example.com ", "London", date(2023, 11, 3), datetime(2023, 10, 1, 9, 30)),
    (2, 10, "Grace Hopper", "", "  ", None, datetime(2023, 12, 24, 23, 59, 59)),
    (3, 20, "", None, "Paris", date(2024, 2, 29), datetime(2024, 1, 15, 0, 0)),
    (4, 20, "Alan Turing", "alan@example.org", "Wilmslow", date(2024, 3, 1), datetime(2024, 2, 1, 12, 0)),
]
APPOINTMENTS = [
    (100, 10, 1, "Completed", datetime(2024, 1, 5, 8, 0), 90, Decimal("120.50")),
    (101, 10, 1, " completed", datetime(2024, 1, 20, 23, 30), 60, Decimal("80.00")),
    (102, 10, 2, "CANCELLED", datetime(2024, 4, 2, 10, 15), 30, None),
    (103, 10, 1, "Scheduled", datetime(2024, 5, 31, 22, 0), 120, Decimal("0.01")),
    (104, 20, 3, "completed", datetime(2024, 2, 29, 13, 0), 45, Decimal("99.99")),
    (105, 20, 4, "Completed", datetime(2024, 2, 29, 13, 0), 45, Decimal("250.00")),
    (106, 20, 4, "Completed", datetime(2024, 3, 1, 0, 0), 1440, Decimal("1000.00")),
    (107, 20, 4, "canceled", datetime(2024, 7, 4, 9, 0), 15, Decimal("5.55")),
]


def create_raw(conn: Connection) -> None:
    with conn.transaction():
        conn.execute("create schema if not exists raw")
        conn.execute(CONTACTS_DDL)
        conn.execute(APPOINTMENTS_DDL)
        for row in CONTACTS:
            conn.execute("insert into raw.contacts values (%s, %s, %s, %s, %s, %s, %s)", row)
        for row in APPOINTMENTS:
            conn.execute("insert into raw.appointments values (%s, %s, %s, %s, %s, %s, %s)", row)
