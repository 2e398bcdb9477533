"""Benchmark: drain 100,000 queued sandbox events into DuckDB with ``load_feed``; events/s and peak RSS.

Each EventCount runs in its own child process (``python -m bench.bench_feed --child EVENTS COUNT``), so its peak
RSS is its own. Anchors, measured in the same child:
- throughput: the same fetch → clear loop over the same queue with no warehouse at all (the API floor; the sandbox
  runs in-process, so its JSON encoding is in both figures);
- memory: the child's peak RSS before the feed run (interpreter, dlt, the sandbox and the 100,000 queued events).
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

EVENTS = 100_000
EVENT_COUNTS = (500, 5_000)  # the assumed server default, and a larger EventCount if serviceminder honours it
API_KEY = "bench-feed-key"
ENTITY_TYPES = ("Contact", "Appointment", "Invoice", "InvoiceLine", "Proposal", "Payment")


def run() -> list[dict[str, Any]]:
    from bench.common import run_child

    entries: list[dict[str, Any]] = []
    for count in EVENT_COUNTS:
        measured = run_child("bench.bench_feed", "--child", str(EVENTS), str(count))
        rate = measured["events"] / measured["feed_seconds"]
        floor = measured["events"] / measured["anchor_seconds"]
        entries.append(
            _entry(
                f"feed: {EVENTS:,} events → DuckDB, EventCount {count}",
                rate,
                "events/s",
                "fetch+clear loop alone, events/s",
                floor,
            )
        )
        entries.append(
            _entry(
                f"feed: peak RSS, EventCount {count}",
                measured["peak_rss_mb"],
                "MiB",
                "RSS before the feed run (sandbox + queue)",
                measured["rss_before_mb"],
            )
        )
    return entries


def _entry(name: str, value: float, unit: str, anchor: str, anchor_value: float) -> dict[str, Any]:
    return {
        "name": name,
        "value": round(value, 2),
        "unit": unit,
        "anchor": anchor,
        "anchor_value": round(anchor_value, 2),
        "ratio": round(value / anchor_value, 3) if anchor_value else None,
    }


def synthetic_events(n: int) -> list[dict[str, Any]]:
    """``n`` contract-shaped payloads (§3): the four transaction kinds in turn, deletes over the six entity types."""
    events = []
    for i in range(n):
        kind = i % 4
        event: dict[str, Any] = {"TransactionKind": kind, "OrganizationId": 1_000_100_000 + i % 40}
        if kind == 3:
            event |= {
                "EntityType": ENTITY_TYPES[(i // 4) % 6],
                "EntityId": 2_000_000_000 + i,
                "DeletedAt": f"2026-8-{1 + i % 28} 14:{i % 60:02d}:00",
            }
        else:
            event |= {
                "PriPhone": "916-312-3236",
                "AltPhone": None,
                "Email": f"customer{i}@example.com",
                "Name": f"Customer {i}",
                "Address1": f"{i % 9000} Aspen Way",
                "Address2": None,
                "City": "Folsom",
                "State": "CA",
                "PostalCode": "95630",
                "TransactionDate": f"2026-8-{1 + i % 28} 10:30:00",
                "Subtotal": f"{100 + i % 500}.25",
                "LifetimeValue": f"{1000 + i % 5000}.00",
                "CreatedAt": "2025-3-4 09:00:00",
                "CustomerSince": "2025-3-4",
                "DigitalTrackingId": f"gclid-{i:08x}",
                "ContactId": 1_200_000_000 + i,
            }
            event |= (
                {"InvoiceId": 3_000_000_000 + i, "InvoiceNumber": f"INV-{i}", "Total": f"{110 + i % 500}.50"},
                {"AppointmentId": 4_000_000_000 + i, "Service": "Window cleaning"},
                {"ProposalId": 5_000_000_000 + i, "Status": "Open"},
            )[kind]
        events.append(event)
    return events


def _child(events: int, event_count: int) -> dict[str, Any]:
    from bench.common import peak_rss_mb, timed
    from pipelines.sandbox import Sandbox
    from pipelines.serviceminder.client import ServiceminderClient
    from pipelines.serviceminder.feed import load_feed
    from pipelines.serviceminder.kinds import BRAND_PATHS
    from pipelines.serviceminder.pipeline import duckdb_destination, make_pipeline

    payloads = synthetic_events(events)
    with (
        Sandbox(api_key=API_KEY, seed=1, appointments=40) as sandbox,
        ServiceminderClient(API_KEY, sandbox.base_url) as client,
        tempfile.TemporaryDirectory(prefix="bench-feed-") as tmp,
    ):
        sandbox.feed.enqueue(payloads)
        with timed() as anchor_seconds:
            while events_ := client.call(BRAND_PATHS.fetch, {"EventCount": event_count})["Events"]:
                client.call(BRAND_PATHS.clear, {"ClearThroughId": events_[-1]["Id"]})

        sandbox.feed.enqueue(payloads)
        rss_before = peak_rss_mb()
        pipeline = make_pipeline(duckdb_destination(Path(tmp) / "w.duckdb"), pipelines_dir=Path(tmp) / "p")
        with timed() as feed_seconds:
            result = load_feed(pipeline, client, event_count=event_count)
        if result.events_loaded != events or len(sandbox.feed) != 0:
            raise RuntimeError(f"the feed loaded {result.events_loaded} of {events} events")
        return {
            "events": events,
            "event_count": event_count,
            "batches": result.batches,
            "feed_seconds": feed_seconds(),
            "anchor_seconds": anchor_seconds(),
            "rss_before_mb": rss_before,
            "peak_rss_mb": peak_rss_mb(),
        }


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        print(json.dumps(_child(int(sys.argv[2]), int(sys.argv[3]))))
    else:
        for figure in run():
            print(figure)
