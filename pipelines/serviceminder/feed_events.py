"""Feed events → typed Arrow rows for ``raw.feed_events``, and Entity Deleted events → ``raw.deletions`` rows.

Pure functions, no I/O: the event feed (``feed.py``) fetches, this module maps, dlt loads. The event shape is in
shared/reference/serviceminder-api.md §3; the parts marked ``[assumed]`` there are pinned here, in one place.
Values that do not parse become NULL in their typed column; the full event is always kept in ``payload``.
"""

from __future__ import annotations

import copy
import json
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

import pyarrow as pa

from pipelines.serviceminder.deletions import Deletion, deletions_table
from pipelines.serviceminder.kinds import KINDS_BY_ENTITY_TYPE
from pipelines.serviceminder.redaction import API_KEY_FIELD, strip_api_key

log = logging.getLogger(__name__)

FEED_EVENTS_TABLE = "feed_events"
_API_KEY_LOWER = API_KEY_FIELD.lower()

INVOICE, APPOINTMENT, PROPOSAL, DELETE = 0, 1, 2, 3  # TransactionKind [doc]
EVENT_TYPES: dict[int, str] = {
    INVOICE: "Invoice Generated",  # [doc]
    APPOINTMENT: "Appointment Complete",  # [doc]
    PROPOSAL: "Proposal",  # [doc: TransactionKind 2 is "Proposal"; no event name is published]
    DELETE: "Entity Deleted",  # [doc]
}
# The entity each non-delete event is about, and the field that carries its id [assumed]
ENTITY_OF_KIND: dict[int, tuple[str, str]] = {
    INVOICE: ("Invoice", "InvoiceId"),
    APPOINTMENT: ("Appointment", "AppointmentId"),
    PROPOSAL: ("Proposal", "ProposalId"),
}

_MONEY = pa.decimal128(18, 2)
_CENT = Decimal("0.01")
_MONEY_LIMIT = Decimal(10) ** 16  # DECIMAL(18,2) holds up to 16 digits before the point

FEED_EVENTS_SCHEMA = pa.schema(
    [
        pa.field("event_id", pa.int64(), nullable=False),
        pa.field("transaction_kind", pa.int64()),
        pa.field("event_type", pa.string()),
        pa.field("organization_id", pa.int64()),
        pa.field("contact_id", pa.int64()),
        pa.field("entity_type", pa.string()),
        pa.field("entity_id", pa.int64()),
        pa.field("transaction_date", pa.timestamp("us")),  # local wall-clock time, no zone
        pa.field("subtotal", _MONEY),
        pa.field("total", _MONEY),
        pa.field("lifetime_value", _MONEY),
        pa.field("deleted_at", pa.timestamp("us")),  # local wall-clock time, no zone
        pa.field("received_at", pa.timestamp("us"), nullable=False),  # UTC, when this pipeline last fetched it
        pa.field("payload", pa.string(), nullable=False),  # the whole event as JSON, without ApiKey
    ]
)

FEED_EVENTS_COLUMN_HINTS: dict[str, dict[str, Any]] = {
    "event_id": {"data_type": "bigint", "nullable": False},
    "transaction_kind": {"data_type": "bigint", "nullable": True},
    "event_type": {"data_type": "text", "nullable": True},
    "organization_id": {"data_type": "bigint", "nullable": True},
    "contact_id": {"data_type": "bigint", "nullable": True},
    "entity_type": {"data_type": "text", "nullable": True},
    "entity_id": {"data_type": "bigint", "nullable": True},
    "transaction_date": {"data_type": "timestamp", "timezone": False, "nullable": True},
    "subtotal": {"data_type": "decimal", "precision": 18, "scale": 2, "nullable": True},
    "total": {"data_type": "decimal", "precision": 18, "scale": 2, "nullable": True},
    "lifetime_value": {"data_type": "decimal", "precision": 18, "scale": 2, "nullable": True},
    "deleted_at": {"data_type": "timestamp", "timezone": False, "nullable": True},
    "received_at": {"data_type": "timestamp", "timezone": False, "nullable": False},
    "payload": {"data_type": "json", "nullable": False},
}


class FeedFormatError(ValueError):
    """An event cannot be stored at all (no usable Id), so the feed must stop before clearing anything."""


@dataclass
class MappedBatch:
    """One fetched batch, ready for dlt: Arrow rows for both tables plus what the caller needs to clear safely."""

    event_ids: list[int]  # ascending, distinct
    events: pa.Table
    deletions: pa.Table
    unknown_entity_types: dict[str, int] = field(default_factory=dict)  # EntityType -> events, kept all the same
    unusable_deletes: list[int] = field(default_factory=list)  # Entity Deleted events without type or id


def map_events(events: Sequence[Mapping[str, Any]], received_at: datetime) -> MappedBatch:
    """Map fetched events to typed rows. Duplicate Ids keep the last copy; rows come out in ascending Id order."""
    by_id: dict[int, Mapping[str, Any]] = {}
    for position, event in enumerate(events):
        by_id[event_id_of(event, position)] = event
    ids = sorted(by_id)
    rows = [event_row(by_id[i], i, received_at) for i in ids]
    columns = {name: [row[name] for row in rows] for name in FEED_EVENTS_SCHEMA.names}
    table = pa.table(columns, schema=FEED_EVENTS_SCHEMA)

    batch = MappedBatch(event_ids=ids, events=table, deletions=deletions_table([]))
    deletions: dict[tuple[str, int], Deletion] = {}  # one row per entity: raw.deletions merges on it
    for i, row in zip(ids, rows, strict=True):
        if row["transaction_kind"] != DELETE:
            continue
        entity_type, entity_id = row["entity_type"], row["entity_id"]
        if not entity_type or entity_id is None:
            batch.unusable_deletes.append(i)
            continue
        if entity_type not in KINDS_BY_ENTITY_TYPE:
            batch.unknown_entity_types[entity_type] = batch.unknown_entity_types.get(entity_type, 0) + 1
        deletions[(entity_type, entity_id)] = Deletion(
            entity_type=entity_type,
            entity_id=entity_id,
            organization_id=row["organization_id"],
            deleted_at=row["deleted_at"],
            detected_at=received_at,
            detected_by="feed",
            event_id=i,
        )
    batch.deletions = deletions_table(list(deletions.values()))
    return batch


def event_id_of(event: Any, position: int = 0) -> int:
    """The event's ``Id``; an event without a whole-number Id cannot be stored or cleared safely."""
    if not isinstance(event, Mapping):
        raise FeedFormatError(
            f"serviceminder sent feed event #{position + 1} as {type(event).__name__}, not an object; "
            "nothing was cleared: check the fetch path and report this event"
        )
    event_id = to_int(event.get("Id"))
    if event_id is None:
        raise FeedFormatError(
            f"serviceminder sent feed event #{position + 1} without a numeric Id; nothing was cleared, so no "
            "event is lost: report this event to serviceminder support"
        )
    return event_id


def event_row(event: Mapping[str, Any], event_id: int, received_at: datetime) -> dict[str, Any]:
    kind = to_int(event.get("TransactionKind"))
    if kind == DELETE:
        entity_type = _text(event.get("EntityType"))
        entity_id = to_int(event.get("EntityId"))
    elif kind in ENTITY_OF_KIND:
        entity_type, id_field = ENTITY_OF_KIND[kind]
        entity_id = to_int(event.get(id_field))
    else:
        entity_type, entity_id = _text(event.get("EntityType")), to_int(event.get("EntityId"))
    return {
        "event_id": event_id,
        "transaction_kind": kind,
        "event_type": event_type_name(kind),
        "organization_id": to_int(event.get("OrganizationId")),
        "contact_id": to_int(event.get("ContactId")),
        "entity_type": entity_type,
        "entity_id": entity_id,
        "transaction_date": to_local_datetime(event.get("TransactionDate")),
        "subtotal": to_money(event.get("Subtotal")),
        "total": to_money(event.get("Total")),
        "lifetime_value": to_money(event.get("LifetimeValue")),
        "deleted_at": to_local_datetime(event.get("DeletedAt")),
        "received_at": received_at,
        "payload": payload_json(event),
    }


def event_type_name(kind: int | None) -> str | None:
    if kind is None:
        return None
    return EVENT_TYPES.get(kind, f"Unknown ({kind})")


def payload_json(event: Mapping[str, Any]) -> str:
    """The whole event as compact JSON text, ``ApiKey`` removed at any depth."""
    flat = {k: v for k, v in event.items() if k.lower() != _API_KEY_LOWER}
    if any(isinstance(v, dict | list) for v in flat.values()):
        flat = strip_api_key(flat)  # events are flat as documented; walk the rare nested one fully
    return json.dumps(flat, ensure_ascii=False, separators=(",", ":"), default=str)


# -- value parsers: lenient, None for anything that does not parse ----------------------------------------------


def to_int(value: Any) -> int | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else None
    if isinstance(value, str):
        text = value.strip()
        if re.fullmatch(r"[+-]?\d+", text):
            return int(text)
        if re.fullmatch(r"[+-]?\d+\.0*", text):
            return int(text.split(".")[0])
    return None


def to_money(value: Any) -> Decimal | None:
    """Numbers, or text such as ``$1,234.50`` / ``-$5.00`` / ``(5.00)``, rounded to cents; never a float."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, Decimal | int):
        amount = Decimal(value)
    elif isinstance(value, float):
        amount = Decimal(repr(value))  # the shortest text that round-trips: 19.99, not 19.989999...
    elif isinstance(value, str):
        text = value.strip().replace(",", "").replace("$", "").replace(" ", "")
        negative = text.startswith("(") and text.endswith(")")
        text = text.strip("()")
        if not text:
            return None
        try:
            amount = Decimal(text)
        except InvalidOperation:
            return None
        if negative:
            amount = -amount
    else:
        return None
    if not amount.is_finite() or abs(amount) >= _MONEY_LIMIT:
        return None
    return amount.quantize(_CENT, rounding=ROUND_HALF_UP)


_ISO = re.compile(
    r"(?P<y>\d{4})-(?P<m>\d{1,2})-(?P<d>\d{1,2})"
    r"(?:[ T](?P<H>\d{1,2}):(?P<M>\d{2})(?::(?P<S>\d{2})(?:\.(?P<f>\d{1,6}))?)?)?"
)
_US = re.compile(
    r"(?P<m>\d{1,2})/(?P<d>\d{1,2})/(?P<y>\d{4})"
    r"(?: (?P<H>\d{1,2}):(?P<M>\d{2})(?::(?P<S>\d{2}))?(?: ?(?P<p>[AaPp][Mm]))?)?"
)


def to_local_datetime(value: Any) -> datetime | None:
    """``2023-4-5``, ``2023-04-05``, ``2023-4-5 13:05:00``, ISO with ``T``, or ``4/5/2023 1:05:00 PM``; no zone."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=None)
    if not isinstance(value, str):
        return None
    text = value.strip()
    match = _ISO.fullmatch(text) or _US.fullmatch(text)
    if match is None:
        return None
    parts = match.groupdict()
    hour = int(parts["H"] or 0)
    meridiem = (parts.get("p") or "").lower()
    if meridiem:
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if meridiem == "pm" else 0)
    try:
        return datetime(
            int(parts["y"]),
            int(parts["m"]),
            int(parts["d"]),
            hour,
            int(parts["M"] or 0),
            int(parts["S"] or 0),
            int((parts.get("f") or "0").ljust(6, "0")),
        )
    except ValueError:
        return None


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def feed_events_resource_hints() -> dict[str, Any]:
    """Keyword arguments for ``dlt.resource`` that define ``raw.feed_events``: merged on the event Id."""
    return {
        "write_disposition": {"disposition": "merge", "strategy": "upsert"},
        "primary_key": "event_id",
        "columns": copy.deepcopy(FEED_EVENTS_COLUMN_HINTS),  # dlt adds keys to the hint dicts it is given
    }
