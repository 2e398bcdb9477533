"""Unit tests for the feed event → typed row mapping (no server, no warehouse)."""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal

import pyarrow as pa
import pytest

from pipelines.serviceminder.deletions import DELETIONS_SCHEMA
from pipelines.serviceminder.feed import FeedGap, find_gaps
from pipelines.serviceminder.feed_events import (
    FEED_EVENTS_COLUMN_HINTS,
    FEED_EVENTS_SCHEMA,
    FeedFormatError,
    map_events,
    to_int,
    to_local_datetime,
    to_money,
)

RECEIVED = datetime(2026, 8, 26, 14, 0, 0)


def invoice_event(event_id: int, **extra: object) -> dict[str, object]:
    return {
        "Id": event_id,
        "TransactionKind": 0,
        "OrganizationId": 1000000001,
        "ContactId": 2000000001,
        "InvoiceId": 3000000001,
        "InvoiceNumber": "INV-1",
        "Total": 107.5,
        "Subtotal": 100,
        "LifetimeValue": "$1,234.50",
        "TransactionDate": "2023-4-5",
        "Name": 'Smith, "Bob"',
        **extra,
    }


def delete_event(event_id: int, entity_type: str | None, entity_id: object, **extra: object) -> dict[str, object]:
    return {
        "Id": event_id,
        "TransactionKind": 3,
        "OrganizationId": 1000000002,
        "EntityType": entity_type,
        "EntityId": entity_id,
        "DeletedAt": "2023-04-05 09:15:00",
        **extra,
    }


def test_every_transaction_kind_maps_to_typed_columns() -> None:
    events = [
        invoice_event(11),
        {"Id": 12, "TransactionKind": 1, "OrganizationId": 7, "ContactId": 8, "AppointmentId": 9, "Subtotal": 80.0},
        {"Id": 13, "TransactionKind": 2, "OrganizationId": 7, "ContactId": 8, "ProposalId": 10, "Status": "Open"},
        delete_event(14, "Payment", 5000000001),
    ]
    batch = map_events(events, RECEIVED)

    assert batch.events.schema == FEED_EVENTS_SCHEMA
    rows = batch.events.to_pylist()
    assert [r["event_type"] for r in rows] == [
        "Invoice Generated",
        "Appointment Complete",
        "Proposal",
        "Entity Deleted",
    ]
    assert [(r["entity_type"], r["entity_id"]) for r in rows] == [
        ("Invoice", 3000000001),
        ("Appointment", 9),
        ("Proposal", 10),
        ("Payment", 5000000001),
    ]
    invoice = rows[0]
    assert invoice["transaction_kind"] == 0
    assert invoice["organization_id"] == 1000000001
    assert invoice["contact_id"] == 2000000001
    assert invoice["transaction_date"] == datetime(2023, 4, 5)
    assert (invoice["subtotal"], invoice["total"], invoice["lifetime_value"]) == (
        Decimal("100.00"),
        Decimal("107.50"),
        Decimal("1234.50"),
    )
    assert invoice["received_at"] == RECEIVED
    assert rows[3]["deleted_at"] == datetime(2023, 4, 5, 9, 15)
    assert rows[3]["contact_id"] is None


def test_payload_is_the_whole_event_as_json_without_the_api_key() -> None:
    event = invoice_event(1, ApiKey="secret-key-123", Nested={"ApiKey": "secret-key-123", "keep": 1})
    row = map_events([event], RECEIVED).events.to_pylist()[0]

    assert "secret-key-123" not in row["payload"]
    payload = json.loads(row["payload"])
    assert payload["Name"] == 'Smith, "Bob"'
    assert payload["Nested"] == {"keep": 1}
    assert set(payload) == set(event) - {"ApiKey"}


def test_entity_deleted_events_become_feed_deletions_for_every_entity_type() -> None:
    types = ["Contact", "Appointment", "Invoice", "InvoiceLine", "Proposal", "Payment"]
    events = [delete_event(100 + n, t, 9000000000 + n) for n, t in enumerate(types)]
    events.append(invoice_event(200))
    batch = map_events(events, RECEIVED)

    assert batch.deletions.schema == DELETIONS_SCHEMA
    rows = batch.deletions.to_pylist()
    assert [(r["entity_type"], r["entity_id"], r["event_id"]) for r in rows] == [
        (t, 9000000000 + n, 100 + n) for n, t in enumerate(types)
    ]
    assert {r["detected_by"] for r in rows} == {"feed"}
    assert {r["detected_at"] for r in rows} == {RECEIVED}
    assert {r["deleted_at"] for r in rows} == {datetime(2023, 4, 5, 9, 15)}
    assert {r["organization_id"] for r in rows} == {1000000002}
    assert not batch.unknown_entity_types and not batch.unusable_deletes


def test_unknown_entity_types_are_kept_and_reported_unusable_deletes_are_reported() -> None:
    batch = map_events(
        [delete_event(1, "Estimate", 5), delete_event(2, None, 6), delete_event(3, "Contact", "not-a-number")],
        RECEIVED,
    )
    assert [(r["entity_type"], r["entity_id"]) for r in batch.deletions.to_pylist()] == [("Estimate", 5)]
    assert batch.unknown_entity_types == {"Estimate": 1}
    assert batch.unusable_deletes == [2, 3]
    assert batch.events.num_rows == 3  # every event is kept in feed_events all the same


def test_repeated_deletes_of_one_entity_keep_one_row_the_latest() -> None:
    batch = map_events([delete_event(5, "Contact", 1), delete_event(9, "Contact", 1)], RECEIVED)
    assert [r["event_id"] for r in batch.deletions.to_pylist()] == [9]


def test_ids_are_sorted_and_deduplicated() -> None:
    batch = map_events([invoice_event(3), invoice_event(1), invoice_event(3, Total=1)], RECEIVED)
    assert batch.event_ids == [1, 3]
    assert batch.events.column("event_id").to_pylist() == [1, 3]
    assert batch.events.column("total").to_pylist()[1] == Decimal("1.00")  # the last copy wins


@pytest.mark.parametrize("bad", [{"TransactionKind": 0}, {"Id": "abc"}, {"Id": 1.5}, "not an object"])
def test_an_event_without_a_usable_id_stops_everything(bad: object) -> None:
    with pytest.raises(FeedFormatError, match="nothing was cleared|not an object"):
        map_events([invoice_event(1), bad], RECEIVED)  # type: ignore[list-item]


def test_unparseable_values_become_null_and_stay_in_the_payload() -> None:
    row = map_events(
        [invoice_event(1, TransactionDate="someday", Total="lots", OrganizationId="x", TransactionKind=9)], RECEIVED
    ).events.to_pylist()[0]
    assert row["transaction_date"] is None and row["total"] is None and row["organization_id"] is None
    assert row["event_type"] == "Unknown (9)"
    assert json.loads(row["payload"])["Total"] == "lots"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2023-4-5", datetime(2023, 4, 5)),
        ("2023-04-05", datetime(2023, 4, 5)),
        ("2023-4-5 7:05:09", datetime(2023, 4, 5, 7, 5, 9)),
        ("2023-04-05 17:05:09", datetime(2023, 4, 5, 17, 5, 9)),
        ("2023-04-05T17:05:09.25", datetime(2023, 4, 5, 17, 5, 9, 250000)),
        ("2023-4-5 17:05", datetime(2023, 4, 5, 17, 5)),
        ("8/26/2026", datetime(2026, 8, 26)),
        ("8/26/2026 10:00:00 AM", datetime(2026, 8, 26, 10)),
        ("8/26/2026 12:30:00 AM", datetime(2026, 8, 26, 0, 30)),
        ("8/26/2026 12:30:00 PM", datetime(2026, 8, 26, 12, 30)),
        ("8/26/2026 1:30:00 PM", datetime(2026, 8, 26, 13, 30)),
        (" 2023-4-5 ", datetime(2023, 4, 5)),
        ("2023-2-30", None),
        ("8/26/2026 13:00:00 PM", None),
        ("2023-04-05+02:00", None),
        ("", None),
        (None, None),
        (20230405, None),
    ],
)
def test_local_datetimes(text: object, expected: datetime | None) -> None:
    assert to_local_datetime(text) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (19.99, Decimal("19.99")),
        (0.1 + 0.2, Decimal("0.30")),
        (100, Decimal("100.00")),
        ("$1,234.50", Decimal("1234.50")),
        ("-$5", Decimal("-5.00")),
        ("(5.25)", Decimal("-5.25")),
        ("2.005", Decimal("2.01")),
        (Decimal("3.1"), Decimal("3.10")),
        ("", None),
        ("abc", None),
        (True, None),
        (float("nan"), None),
        (1e20, None),  # would overflow DECIMAL(18,2)
        (None, None),
    ],
)
def test_money(value: object, expected: Decimal | None) -> None:
    assert to_money(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [(5, 5), ("5", 5), (" 42 ", 42), (5.0, 5), ("7.0", 7), (5.5, None), (True, None), ("1e3", None), (None, None)],
)
def test_ints(value: object, expected: int | None) -> None:
    assert to_int(value) == expected


def test_column_hints_match_the_arrow_schema() -> None:
    assert list(FEED_EVENTS_COLUMN_HINTS) == FEED_EVENTS_SCHEMA.names
    for name, hint in FEED_EVENTS_COLUMN_HINTS.items():
        arrow_type = FEED_EVENTS_SCHEMA.field(name).type
        if pa.types.is_timestamp(arrow_type):
            assert hint == {"data_type": "timestamp", "timezone": False, "nullable": hint["nullable"]}
        if pa.types.is_decimal(arrow_type):
            assert (hint["precision"], hint["scale"]) == (18, 2)
        assert hint["nullable"] == FEED_EVENTS_SCHEMA.field(name).nullable


@pytest.mark.parametrize(
    ("stored", "ids", "gaps"),
    [
        (None, [5, 6, 7], []),  # first run: nothing to compare with
        (4, [5, 6], []),
        (10, [3, 4, 11], []),  # re-delivered events after a crash before the clear
        (4, [8, 9], [FeedGap(4, 8)]),
        (4, [5, 9, 10, 12], [FeedGap(5, 9), FeedGap(10, 12)]),
    ],
)
def test_find_gaps(stored: int | None, ids: list[int], gaps: list[FeedGap]) -> None:
    assert find_gaps(stored, ids) == gaps


def test_gap_message_says_what_was_lost_and_how_to_repair_it() -> None:
    message = FeedGap(after_id=100, next_id=151).message()
    assert "purged 50 event(s)" in message
    assert "smw run --full-refresh" in message
