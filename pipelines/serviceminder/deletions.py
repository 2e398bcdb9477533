"""The ``raw.deletions`` table: one shape for deletions found by the feed and by a full refresh.

Both sources write it as Arrow (never dicts: see DESIGN.md's pitfall on mixing the two in one table), merged on
``(entity_type, entity_id, detected_by)``, so re-delivered feed events and repeated detections are absorbed.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import pyarrow as pa

DELETIONS_TABLE = "deletions"
DetectedBy = Literal["feed", "full_refresh"]

DELETIONS_SCHEMA = pa.schema(
    [
        pa.field("entity_type", pa.string(), nullable=False),  # Contact, Appointment, Invoice, InvoiceLine, ...
        pa.field("entity_id", pa.int64(), nullable=False),
        pa.field("organization_id", pa.int64()),
        pa.field("deleted_at", pa.timestamp("us")),  # serviceminder's local time; NULL when unknown (full refresh)
        pa.field("detected_at", pa.timestamp("us"), nullable=False),  # UTC, when this pipeline learned of it
        pa.field("detected_by", pa.string(), nullable=False),  # 'feed' or 'full_refresh'
        pa.field("event_id", pa.int64()),  # the feed event's Id, for detected_by = 'feed'
    ]
)

DELETIONS_PRIMARY_KEY = ("entity_type", "entity_id", "detected_by")

DELETIONS_COLUMN_HINTS: dict[str, dict[str, Any]] = {
    "entity_type": {"data_type": "text", "nullable": False},
    "entity_id": {"data_type": "bigint", "nullable": False},
    "organization_id": {"data_type": "bigint", "nullable": True},
    "deleted_at": {"data_type": "timestamp", "timezone": False, "nullable": True},
    "detected_at": {"data_type": "timestamp", "timezone": False, "nullable": False},
    "detected_by": {"data_type": "text", "nullable": False},
    "event_id": {"data_type": "bigint", "nullable": True},
}


@dataclass(frozen=True)
class Deletion:
    entity_type: str
    entity_id: int
    organization_id: int | None
    deleted_at: datetime | None
    detected_at: datetime
    detected_by: DetectedBy
    event_id: int | None = None


def deletions_table(deletions: Sequence[Deletion]) -> pa.Table:
    columns = {name: [getattr(d, name) for d in deletions] for name in DELETIONS_SCHEMA.names}
    return pa.table(columns, schema=DELETIONS_SCHEMA)


def deletions_resource_hints() -> dict[str, Any]:
    """Keyword arguments for ``dlt.resource``/``apply_hints`` that define ``raw.deletions``."""
    return {
        "table_name": DELETIONS_TABLE,
        # delete-insert also collapses one entity deleted twice within a load package
        "write_disposition": {"disposition": "merge", "strategy": "delete-insert"},
        "primary_key": list(DELETIONS_PRIMARY_KEY),
        "columns": copy.deepcopy(DELETIONS_COLUMN_HINTS),  # dlt writes into the dicts it is given
    }
