"""CSV rendering: the exact bytes of contract §2.1, quoting that round-trips, extra/missing columns, broken rows."""

from __future__ import annotations

import csv
import io
import time
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pytest

from pipelines.sandbox.brand import Brand
from pipelines.sandbox.csv_format import (
    BAD_DATE,
    BAD_MONEY,
    BAD_TIMESTAMP,
    BOM,
    EXTRA_FIELD,
    format_money,
    format_timestamp,
    render_csv,
)
from pipelines.serviceminder.kinds import ALL_KINDS, APPOINTMENTS, CONTACTS, INVOICE_LINES, PAYMENTS, Kind

TODAY = date(2026, 4, 5)


@pytest.fixture(scope="module")
def brand() -> Brand:
    return Brand(seed=21, appointments=2_000, today=TODAY)


def _parse(body: bytes) -> list[list[str]]:
    assert body.startswith(BOM)
    return list(csv.reader(io.StringIO(body[len(BOM) :].decode("utf-8"), newline="")))


def _contact(**overrides: Any) -> dict[str, Any]:
    row = {
        "id": 1204000001,
        "organization_id": 1000100001,
        "organization": "BrightNest of Portland, ME",
        "name": "Smith, John",
        "company": 'Lakeside "Premier" Rentals',
        "email": None,
        "primary_phone": "(207) 555-0100",
        "alt_phone": None,
        "address1": "12 Oak St",
        "address2": "Suite 200, Bldg C",
        "city": "Zoë's Town",
        "state": "ME",
        "postal_code": "04101",
        "category": "Customer",
        "lead_source": None,
        "channel": "Web",
        "campaign": None,
        "customer_since": date(2026, 1, 5),
        "lifetime_value": Decimal("1234.50"),
        "do_not_email": True,
        "do_not_text": False,
        "tags": 'Says "call first"\nDog in yard\r\nGate 4411',
        "digital_tracking_id": "0012ab",
        "created_at": datetime(2025, 8, 26, 10, 0, 0),
        "updated_at": datetime(2026, 3, 1, 23, 5, 9),
    }
    row.update(overrides)
    return row


def test_file_layout_bom_header_and_crlf_after_every_record() -> None:
    body = render_csv(CONTACTS, [_contact(), _contact(id=1204000002)])
    assert body.startswith(BOM + b"Id,Organization Id,Organization,Name,Company,")
    assert body.endswith(b"\r\n")
    rows = _parse(body)
    assert rows[0] == [c.header for c in CONTACTS.columns]
    assert len(rows) == 3
    text = body[len(BOM) :].decode()
    # line breaks outside quotes are always CRLF: remove the quoted fields and look at what is left
    outside = "".join(part for i, part in enumerate(text.split('"')) if i % 2 == 0)
    assert outside.count("\r\n") == 3 and "\n" not in outside.replace("\r\n", "")


def test_an_empty_page_is_just_the_header() -> None:
    body = render_csv(PAYMENTS, [])
    assert body == BOM + ",".join(c.header for c in PAYMENTS.columns).encode() + b"\r\n"


def test_values_are_formatted_as_the_contract_says() -> None:
    rows = _parse(render_csv(CONTACTS, [_contact()]))
    got = dict(zip(rows[0], rows[1], strict=True))
    assert got["Id"] == "1204000001"
    assert got["Organization"] == "BrightNest of Portland, ME"
    assert got["Name"] == "Smith, John"
    assert got["Company"] == 'Lakeside "Premier" Rentals'
    assert got["Email"] == "" and got["Alt Phone"] == "" and got["Campaign"] == ""
    assert got["Postal Code"] == "04101"
    assert got["City"] == "Zoë's Town"
    assert got["Customer Since"] == "1/5/2026"
    assert got["Lifetime Value"] == "$1,234.50"
    assert got["Do Not Email"] == "Yes" and got["Do Not Text"] == "No"
    assert got["Tags"] == 'Says "call first"\nDog in yard\r\nGate 4411'
    assert got["Digital Tracking Id"] == "0012ab"
    assert got["Created At"] == "8/26/2025 10:00:00 AM"
    assert got["Updated At"] == "3/1/2026 11:05:09 PM"


def test_quoting_is_minimal_and_doubles_quotes() -> None:
    body = render_csv(CONTACTS, [_contact()]).decode("utf-8-sig")
    record = body.split("\r\n", 1)[1]
    assert record.startswith('1204000001,1000100001,"BrightNest of Portland, ME","Smith, John",')
    assert '"Lakeside ""Premier"" Rentals"' in record
    assert ",(207) 555-0100," in record  # no quotes where none are needed
    assert '"$1,234.50"' in record


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (datetime(2026, 8, 26, 0, 0, 0), "8/26/2026 12:00:00 AM"),
        (datetime(2026, 8, 26, 0, 59, 1), "8/26/2026 12:59:01 AM"),
        (datetime(2026, 8, 26, 11, 59, 59), "8/26/2026 11:59:59 AM"),
        (datetime(2026, 8, 26, 12, 0, 0), "8/26/2026 12:00:00 PM"),
        (datetime(2026, 12, 31, 13, 7, 9), "12/31/2026 1:07:09 PM"),
        (datetime(2026, 1, 1, 23, 59, 59), "1/1/2026 11:59:59 PM"),
    ],
)
def test_timestamps_use_a_twelve_hour_clock(value: datetime, text: str) -> None:
    assert format_timestamp(value) == text


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (Decimal("0.00"), "$0.00"),
        (Decimal("-0.00"), "$0.00"),
        (Decimal("5.00"), "$5.00"),
        (Decimal("999.99"), "$999.99"),
        (Decimal("1234.50"), "$1,234.50"),
        (Decimal("1234567.89"), "$1,234,567.89"),
        (Decimal("-12.30"), "-$12.30"),
        (Decimal("-1234.50"), "-$1,234.50"),
    ],
)
def test_money(value: Decimal, text: str) -> None:
    assert format_money(value) == text


def test_quantities_keep_four_places_and_booleans_say_yes_or_no() -> None:
    line = {
        "id": 4410000001,
        "invoice_id": 3305000001,
        "organization_id": 1000100001,
        "service": "Screen Cleaning",
        "description": "Front + back\nScreens removed, washed",
        "quantity": Decimal("2.5000"),
        "unit_price": Decimal("5.00"),
        "extended_total": Decimal("12.50"),
        "taxable": False,
        "created_at": datetime(2026, 4, 5, 9, 0, 0),
        "updated_at": datetime(2026, 4, 5, 9, 0, 0),
    }
    rows = _parse(render_csv(INVOICE_LINES, [line]))
    assert rows[1] == [
        "4410000001",
        "3305000001",
        "1000100001",
        "Screen Cleaning",
        "Front + back\nScreens removed, washed",
        "2.5000",
        "$5.00",
        "$12.50",
        "No",
        "4/5/2026 9:00:00 AM",
        "4/5/2026 9:00:00 AM",
    ]


# --- the whole brand round-trips through Python's csv module --------------------------------------------------


def _typed(kind: Kind, name: str, text: str) -> Any:
    col = next(c for c in kind.columns if c.name == name)
    if text == "":
        return None
    if col.type in ("id", "int"):
        return int(text)
    if col.type == "money":
        negative = text.startswith("-")
        value = Decimal(text.lstrip("-").lstrip("$").replace(",", ""))
        return -value if negative else value
    if col.type == "decimal":
        return Decimal(text)
    if col.type == "timestamp":
        return datetime.strptime(text, "%m/%d/%Y %I:%M:%S %p")
    if col.type == "date":
        return datetime.strptime(text, "%m/%d/%Y").date()
    if col.type == "bool":
        return {"Yes": True, "No": False}[text]
    return text


@pytest.mark.parametrize("kind", ALL_KINDS, ids=lambda k: k.key)
def test_every_record_of_the_brand_round_trips(brand: Brand, kind: Kind) -> None:
    records = brand.select(kind.key)
    rows = _parse(render_csv(kind, records))
    assert len(rows) == len(records) + 1
    names = kind.column_names
    for record, fields in zip(records, rows[1:], strict=True):
        assert len(fields) == len(names)
        assert {n: _typed(kind, n, f) for n, f in zip(names, fields, strict=True)} == record


def test_the_brand_exercises_quoting(brand: Brand) -> None:
    text = render_csv(CONTACTS, brand.select("contacts")).decode("utf-8-sig")
    text += render_csv(INVOICE_LINES, brand.select("invoice_lines")).decode("utf-8-sig")
    assert '""' in text  # a quote inside a quoted field
    assert '",' in text  # a quoted field followed by another
    assert "\n" in text.replace("\r\n", "")  # a bare line break inside a field


# --- extra and missing columns, broken rows ------------------------------------------------------------------


def test_extra_columns_are_appended_with_their_value() -> None:
    rows = _parse(render_csv(CONTACTS, [_contact()], extra_columns={"Region": "North, East", "Franchisee Code": "007"}))
    assert rows[0][-2:] == ["Region", "Franchisee Code"]
    assert rows[1][-2:] == ["North, East", "007"]
    assert len(rows[1]) == len(CONTACTS.columns) + 2


def test_missing_columns_are_left_out_entirely() -> None:
    rows = _parse(render_csv(CONTACTS, [_contact()], missing_columns={"email", "lifetime_value"}))
    assert "Email" not in rows[0] and "Lifetime Value" not in rows[0]
    assert len(rows[0]) == len(rows[1]) == len(CONTACTS.columns) - 2
    assert dict(zip(rows[0], rows[1], strict=True))["Name"] == "Smith, John"


def test_an_unknown_missing_column_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown column.*Email"):
        render_csv(CONTACTS, [_contact()], missing_columns=["Email"])


def _id_with(remainder: int, after: int = 1204000000) -> int:
    return next(i for i in range(after, after + 3) if i % 3 == remainder)


def test_malformed_rows_are_broken_in_three_ways_and_the_others_are_untouched() -> None:
    ids = [_id_with(2), _id_with(0, 1204000100), _id_with(1, 1204000200), _id_with(2, 1204000300)]
    records = [_contact(id=i) for i in ids]
    clean = _parse(render_csv(CONTACTS, records))
    broken = _parse(render_csv(CONTACTS, records, malformed_ids=ids[:3]))
    header = clean[0]
    assert broken[4] == clean[4]
    money, extra, dated = broken[1], broken[2], broken[3]
    assert dict(zip(header, money, strict=True))["Lifetime Value"] == BAD_MONEY
    assert extra == [*clean[2], EXTRA_FIELD]
    assert dict(zip(header, dated, strict=True))["Created At"] == BAD_TIMESTAMP
    assert sum(a != b for a, b in zip(money, clean[1], strict=True)) == 1
    assert sum(a != b for a, b in zip(dated, clean[3], strict=True)) == 1


def test_malformed_rows_fall_back_to_an_extra_field_when_the_column_is_missing() -> None:
    records = [_contact(id=_id_with(2)), _contact(id=_id_with(1, 1204000100))]  # money, date
    rows = _parse(
        render_csv(
            CONTACTS,
            records,
            malformed_ids={r["id"] for r in records},
            missing_columns={"lifetime_value", "created_at", "updated_at"},
        )
    )
    header = rows[0]
    assert rows[1][-1] == EXTRA_FIELD and len(rows[1]) == len(header) + 1
    assert dict(zip(header, rows[2], strict=True))["Customer Since"] == BAD_DATE  # the date column left


# --- speed ----------------------------------------------------------------------------------------------------


def test_a_full_page_renders_in_well_under_a_second(brand: Brand) -> None:
    page = brand.select("appointments")
    rows = [dict(r, id=r["id"] + n * 10_000_000) for n in range(13) for r in page][:25_000]
    assert len(rows) == 25_000
    start = time.perf_counter()
    body = render_csv(APPOINTMENTS, rows)
    elapsed = time.perf_counter() - start
    assert body.count(b"\r\n") >= 25_001
    assert elapsed < 1.0, f"25,000 appointments took {elapsed:.2f} s to render"
