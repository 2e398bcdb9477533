"""The event feed against the sandbox over loopback, into real DuckDB and PostgreSQL warehouses.

Each acceptance point of the feed issue has a test here: every event once with the right types and an empty queue,
crashes before the load and between load and clear, events arriving during a run, feed deletions for every entity
type, purge gaps, org-level keys, and the API key stored nowhere. Crashes are simulated in-process by making one
step raise, then "restarting" with a fresh pipeline object on the same working folder.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from dlt.common.versioned_state import decompress_state

from pipelines.sandbox import Sandbox
from pipelines.serviceminder.client import ApiError, ServiceminderClient
from pipelines.serviceminder.feed import (
    ALL_KIND_KEYS,
    FEED_SOURCE_NAME,
    FULL_REFRESH_COMMAND,
    FeedClearError,
    FeedError,
    FeedLoadError,
    acknowledge_full_refresh,
    full_refresh_reasons,
    full_refresh_requested,
    highest_stored_event_id,
    load_feed,
)
from pipelines.serviceminder.kinds import ALL_KINDS, BRAND_PATHS
from tests.fakes import FakeClock
from tests.warehouses import TestWarehouse, make_test_warehouse

API_KEY = "feed-test-key-7Qz9x2Lm"
RECEIVED = datetime(2026, 8, 26, 18, 30, 0)
ENTITY_TYPES = [k.entity_type for k in ALL_KINDS]  # Contact, Appointment, Invoice, InvoiceLine, Proposal, Payment


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(api_key=API_KEY, seed=11, appointments=40) as server:
        yield server


@pytest.fixture
def client(sandbox: Sandbox, fake_clock: FakeClock) -> Iterator[ServiceminderClient]:
    with ServiceminderClient(API_KEY, sandbox.base_url, sleep=fake_clock.sleep) as c:
        yield c


def mixed_events(n: int, *, start: int = 0) -> list[dict[str, Any]]:
    """``n`` payloads cycling through the four transaction kinds, deletes cycling through the six entity types."""
    events = []
    for i in range(start, start + n):
        kind = i % 4
        event: dict[str, Any] = {"TransactionKind": kind, "OrganizationId": 1000000001 + i % 3}
        if kind == 3:
            event |= {
                "EntityType": ENTITY_TYPES[(i // 4) % 6],
                "EntityId": 9000000000 + i,
                "DeletedAt": f"2026-8-{1 + i % 28} 9:15:00",
            }
        else:
            event |= {
                "ContactId": 2000000000 + i,
                "TransactionDate": f"2026-08-{1 + i % 28:02d}",
                "Subtotal": 100 + i + 0.25,
                "LifetimeValue": 1000.5,
                "Name": f"Customer, {i}",
            }
            event |= (
                [{"InvoiceId": 3000000000 + i, "Total": 110.0}, {"AppointmentId": 4000000000 + i}][kind]
                if (kind < 2)
                else {"ProposalId": 5000000000 + i, "Status": "Open"}
            )
        events.append(event)
    return events


def feed_rows(warehouse: TestWarehouse) -> list[tuple]:
    return warehouse.query("select event_id from raw.feed_events order by event_id")


def clears(sandbox: Sandbox) -> list[int]:
    return [body["ClearThroughId"] for path, body in sandbox.requests if path == BRAND_PATHS.clear]


def fail_on(client: ServiceminderClient, monkeypatch: pytest.MonkeyPatch, path: str, exc: Exception) -> None:
    real = client.call

    def call(p: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        if p == path:
            raise exc
        return real(p, body)

    monkeypatch.setattr(client, "call", call)


class Crash(Exception):
    """Stands for the process dying at this point."""


# -- acceptance: every event once, right types, queue empty ---------------------------------------------------------


def test_every_event_lands_once_with_the_right_types_and_the_queue_is_empty(
    warehouse: TestWarehouse, sandbox: Sandbox, client: ServiceminderClient
) -> None:
    ids = sandbox.feed.enqueue(mixed_events(13))
    result = load_feed(warehouse.pipeline(), client, event_count=5, now=lambda: RECEIVED)

    assert len(sandbox.feed) == 0
    assert [r[0] for r in feed_rows(warehouse)] == ids
    assert (result.events_loaded, result.batches, result.cleared_through) == (13, 3, ids[-1])
    assert result.deletions == 3 and not result.gaps and not result.warnings and result.redelivered == 0
    assert clears(sandbox) == [ids[4], ids[9], ids[12]]  # each batch cleared only after it was committed

    types = dict(
        warehouse.query(
            "select column_name, data_type from information_schema.columns"
            " where table_schema = 'raw' and table_name = 'feed_events'"
        )
    )
    if warehouse.name == "duckdb":
        expected = {"bigint": "BIGINT", "money": "DECIMAL(18,2)", "ts": "TIMESTAMP", "text": "VARCHAR", "json": "JSON"}
    else:
        expected = {
            "bigint": "bigint",
            "money": "numeric",
            "ts": "timestamp without time zone",
            "text": "character varying",
            "json": "json",
        }
    for column in ("event_id", "transaction_kind", "organization_id", "contact_id", "entity_id"):
        assert types[column] == expected["bigint"], column
    for column in ("subtotal", "total", "lifetime_value"):
        assert types[column] == expected["money"], column
    for column in ("transaction_date", "deleted_at", "received_at"):
        assert types[column] == expected["ts"], column
    assert types["event_type"] == types["entity_type"] == expected["text"]
    assert types["payload"] == expected["json"]
    if warehouse.name == "postgres":
        scales = warehouse.query(
            "select numeric_precision, numeric_scale from information_schema.columns"
            " where table_schema = 'raw' and table_name = 'feed_events' and column_name = 'total'"
        )
        assert scales == [(18, 2)]

    first = warehouse.query(
        "select event_type, entity_type, entity_id, contact_id, transaction_date, subtotal, total, lifetime_value,"
        " received_at from raw.feed_events where event_id = %s",
        ids[0],
    )
    assert first == [
        (
            "Invoice Generated",
            "Invoice",
            3000000000,
            2000000000,
            datetime(2026, 8, 1),
            Decimal("100.25"),
            Decimal("110.00"),
            Decimal("1000.50"),
            RECEIVED,
        )
    ]
    names = warehouse.query("select event_type, count(*) from raw.feed_events group by event_type")
    assert dict(names) == {"Invoice Generated": 4, "Appointment Complete": 3, "Proposal": 3, "Entity Deleted": 3}
    payload_name = warehouse.query(
        "select payload->>'Name' from raw.feed_events where event_id = %s"
        if warehouse.name == "postgres"
        else "select payload->>'$.Name' from raw.feed_events where event_id = ?",
        ids[1],
    )
    assert payload_name == [("Customer, 1",)]


def test_a_second_run_on_an_empty_queue_does_nothing(duckdb_warehouse: TestWarehouse, sandbox, client) -> None:
    sandbox.feed.enqueue(mixed_events(3))
    load_feed(duckdb_warehouse.pipeline(), client, event_count=5)
    before = len(sandbox.requests)

    result = load_feed(duckdb_warehouse.pipeline(), client, event_count=5)

    assert (result.events_loaded, result.batches, result.cleared_through) == (0, 0, None)
    assert [path for path, _ in sandbox.requests[before:]] == [BRAND_PATHS.fetch]
    assert len(feed_rows(duckdb_warehouse)) == 3


def test_max_events_caps_one_run_and_the_next_run_goes_on(duckdb_warehouse: TestWarehouse, sandbox, client) -> None:
    ids = sandbox.feed.enqueue(mixed_events(9))

    first = load_feed(duckdb_warehouse.pipeline(), client, event_count=4, max_events=6)
    assert (first.events_loaded, first.batches, first.capped) == (6, 2, True)
    assert [e["Id"] for e in sandbox.feed.pending()] == ids[6:]
    assert [body["EventCount"] for path, body in sandbox.requests if path == BRAND_PATHS.fetch] == [4, 2]

    second = load_feed(duckdb_warehouse.pipeline(), client, event_count=4)
    assert (second.events_loaded, second.capped, len(sandbox.feed)) == (3, False, 0)
    assert [r[0] for r in feed_rows(duckdb_warehouse)] == ids


# -- acceptance: crashes -----------------------------------------------------------------------------------------


def test_crash_after_the_load_before_the_clear_redelivers_without_duplicates(
    warehouse: TestWarehouse, sandbox: Sandbox, client: ServiceminderClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = sandbox.feed.enqueue(mixed_events(6))
    with monkeypatch.context() as patch:
        fail_on(client, patch, BRAND_PATHS.clear, Crash("killed before the clear"))
        with pytest.raises(Crash):
            load_feed(warehouse.pipeline(), client, event_count=4)
    assert [r[0] for r in feed_rows(warehouse)] == ids[:4]  # the first batch is committed ...
    assert len(sandbox.feed) == 6  # ... but nothing was cleared

    result = load_feed(warehouse.pipeline(), client, event_count=4)  # a new process, same working folder

    assert [r[0] for r in feed_rows(warehouse)] == ids  # no duplicates: the merge absorbed the re-delivery
    assert warehouse.query("select count(*) from raw.deletions") == [(1,)]
    assert (result.redelivered, result.events_loaded, len(sandbox.feed)) == (4, 6, 0)
    assert not result.gaps


def test_a_clear_that_serviceminder_rejects_stops_the_run_and_the_next_run_clears(
    duckdb_warehouse: TestWarehouse, sandbox: Sandbox, client: ServiceminderClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = sandbox.feed.enqueue(mixed_events(3))
    with monkeypatch.context() as patch:
        fail_on(client, patch, BRAND_PATHS.clear, ApiError("clear refused", path=BRAND_PATHS.clear))
        with pytest.raises(FeedClearError, match=f"through Id {ids[-1]} are stored.*nothing is lost") as caught:
            load_feed(duckdb_warehouse.pipeline(), client, event_count=5)
    assert caught.value.result is not None and caught.value.result.load_ids

    load_feed(duckdb_warehouse.pipeline(), client, event_count=5)
    assert len(sandbox.feed) == 0 and [r[0] for r in feed_rows(duckdb_warehouse)] == ids


@pytest.mark.parametrize("step", ["normalize", "load"])
def test_crash_before_the_load_loses_nothing_even_if_serviceminder_purges_meanwhile(
    step: str, duckdb_warehouse: TestWarehouse, sandbox: Sandbox, client: ServiceminderClient
) -> None:
    ids = sandbox.feed.enqueue(mixed_events(5))
    pipeline = duckdb_warehouse.pipeline()

    def crash(*args: Any, **kwargs: Any) -> None:
        raise Crash(f"killed before {step}")

    setattr(pipeline, step, crash)
    with pytest.raises(Crash):
        load_feed(pipeline, client, event_count=10)
    assert len(sandbox.feed) == 5 and clears(sandbox) == []
    sandbox.feed.purge_oldest(5)  # serviceminder drops the uncleared events before the next run

    result = load_feed(duckdb_warehouse.pipeline(), client, event_count=10)

    assert result.pending_packages_loaded == 1
    assert [r[0] for r in feed_rows(duckdb_warehouse)] == ids  # the pending package still had them
    assert duckdb_warehouse.query("select count(*) from raw.deletions") == [(1,)]


def test_crash_before_the_load_then_rerun_stores_each_event_once(
    warehouse: TestWarehouse, sandbox: Sandbox, client: ServiceminderClient
) -> None:
    ids = sandbox.feed.enqueue(mixed_events(5))
    pipeline = warehouse.pipeline()

    def crash(*args: Any, **kwargs: Any) -> None:
        raise Crash("killed between normalize and load")

    pipeline.load = crash  # type: ignore[method-assign]
    with pytest.raises(Crash):
        load_feed(pipeline, client, event_count=3)
    assert len(sandbox.feed) == 5

    result = load_feed(warehouse.pipeline(), client, event_count=3)

    assert result.pending_packages_loaded == 1 and result.redelivered == 3
    assert [r[0] for r in feed_rows(warehouse)] == ids
    assert len(sandbox.feed) == 0


@pytest.mark.postgres
def test_a_failing_load_clears_nothing_and_the_package_is_retried_first(
    postgres_url: str, tmp_path: Path, sandbox: Sandbox, client: ServiceminderClient
) -> None:
    warehouse = make_test_warehouse("postgres", tmp_path, postgres_url)
    ids = sandbox.feed.enqueue(mixed_events(3))
    warehouse.query(  # a table the load cannot write to, until the constraint goes
        "create schema raw; create table raw.feed_events (event_id bigint, constraint blocker check (event_id < 0))"
    )

    with pytest.raises(FeedLoadError, match="nothing was cleared"):
        load_feed(warehouse.pipeline(), client, event_count=5)
    assert clears(sandbox) == [] and len(sandbox.feed) == 3

    with pytest.raises(FeedLoadError, match="interrupted run could not be loaded"):
        load_feed(warehouse.pipeline(), client, event_count=5)  # still broken: stops before fetching again
    assert clears(sandbox) == [] and [p for p, _ in sandbox.requests].count(BRAND_PATHS.fetch) == 1

    warehouse.query("alter table raw.feed_events drop constraint blocker")
    result = load_feed(warehouse.pipeline(), client, event_count=5)
    assert result.pending_packages_loaded == 1
    assert [r[0] for r in feed_rows(warehouse)] == ids and len(sandbox.feed) == 0


def test_nothing_is_cleared_when_the_fetched_events_are_not_in_the_warehouse(
    duckdb_warehouse: TestWarehouse, sandbox: Sandbox, client: ServiceminderClient
) -> None:
    sandbox.feed.enqueue(mixed_events(3))
    pipeline = duckdb_warehouse.pipeline()
    pipeline.run = lambda *a, **k: None  # type: ignore[method-assign]  # dlt returned without loading our data

    with pytest.raises(FeedLoadError, match="not in raw.feed_events; nothing was cleared"):
        load_feed(pipeline, client, event_count=5)
    assert clears(sandbox) == [] and len(sandbox.feed) == 3


# -- acceptance: events arriving during the run ------------------------------------------------------------------


def test_events_arriving_between_a_fetch_and_its_clear_are_not_cleared_by_it(
    duckdb_warehouse: TestWarehouse, sandbox: Sandbox, client: ServiceminderClient
) -> None:
    early = sandbox.feed.enqueue(mixed_events(4))
    late: list[int] = []
    sandbox.feed.on_next_fetch(lambda: late.extend(sandbox.feed.enqueue(mixed_events(3, start=4))))

    result = load_feed(duckdb_warehouse.pipeline(), client, event_count=10)

    assert len(late) == 3
    assert clears(sandbox) == [early[-1], late[-1]]  # the first clear stopped at what the first fetch returned
    assert (result.batches, result.events_loaded, len(sandbox.feed)) == (2, 7, 0)  # the next fetch got them
    assert [r[0] for r in feed_rows(duckdb_warehouse)] == early + late and not result.gaps


def test_events_arriving_after_the_last_fetch_wait_for_the_next_run(
    duckdb_warehouse: TestWarehouse, sandbox: Sandbox, client: ServiceminderClient
) -> None:
    early = sandbox.feed.enqueue(mixed_events(4))
    late: list[int] = []
    # the first fetch returns the 4 events; the second, empty one ends the run; then 3 more arrive
    sandbox.feed.on_next_fetch(
        lambda: sandbox.feed.on_next_fetch(lambda: late.extend(sandbox.feed.enqueue(mixed_events(3, start=4))))
    )

    first = load_feed(duckdb_warehouse.pipeline(), client, event_count=10)

    assert first.cleared_through == early[-1] and len(late) == 3
    assert [e["Id"] for e in sandbox.feed.pending()] == late
    assert [r[0] for r in feed_rows(duckdb_warehouse)] == early

    second = load_feed(duckdb_warehouse.pipeline(), client, event_count=10)
    assert second.events_loaded == 3 and not second.gaps
    assert [r[0] for r in feed_rows(duckdb_warehouse)] == early + late and len(sandbox.feed) == 0


def test_a_short_batch_does_not_end_the_run(
    duckdb_warehouse: TestWarehouse, sandbox: Sandbox, client: ServiceminderClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = sandbox.feed.enqueue(mixed_events(7))
    real = client.call

    def capped(path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        if path == BRAND_PATHS.fetch:  # a server that returns at most 3 events whatever EventCount says
            body = {**(body or {}), "EventCount": min(3, (body or {}).get("EventCount", 3))}
        return real(path, body)

    monkeypatch.setattr(client, "call", capped)
    result = load_feed(duckdb_warehouse.pipeline(), client, event_count=10)

    assert (result.batches, result.events_loaded, len(sandbox.feed)) == (3, 7, 0)
    assert [r[0] for r in feed_rows(duckdb_warehouse)] == ids


# -- acceptance: deletions -------------------------------------------------------------------------------------


def test_entity_deleted_events_reach_raw_deletions_for_all_six_entity_types(
    warehouse: TestWarehouse, sandbox: Sandbox, client: ServiceminderClient, caplog: pytest.LogCaptureFixture
) -> None:
    deletes = [
        {"TransactionKind": 3, "OrganizationId": 1000000001, "EntityType": t, "EntityId": 7000000000 + n,
         "DeletedAt": "2026-8-5 16:04:00"}
        for n, t in enumerate([*ENTITY_TYPES, "Estimate"])
    ]  # fmt: skip
    ids = sandbox.feed.enqueue([*mixed_events(2), *deletes])

    with caplog.at_level(logging.WARNING, logger="pipelines.serviceminder.feed"):
        result = load_feed(warehouse.pipeline(), client, event_count=4, now=lambda: RECEIVED)

    rows = warehouse.query(
        "select entity_type, entity_id, organization_id, deleted_at, detected_at, detected_by, event_id"
        " from raw.deletions order by event_id"
    )
    assert rows == [
        (t, 7000000000 + n, 1000000001, datetime(2026, 8, 5, 16, 4), RECEIVED, "feed", ids[2 + n])
        for n, t in enumerate([*ENTITY_TYPES, "Estimate"])
    ]  # records the warehouse never had are kept; so is the unknown entity type
    assert result.deletions == 7
    assert any("unknown entity type 'Estimate'" in w for w in result.warnings)
    assert "Estimate" in caplog.text


def test_the_simulated_brands_events_and_deletions_land_as_the_brand_says(
    duckdb_warehouse: TestWarehouse, sandbox: Sandbox, client: ServiceminderClient
) -> None:
    sandbox.advance_days(8)  # enough days for every transaction kind and every entity type to occur
    events = {e["Id"]: e for e in sandbox.feed.pending()}
    truth = sandbox.truth()

    result = load_feed(duckdb_warehouse.pipeline(), client, event_count=25)

    assert len(sandbox.feed) == 0 and result.events_loaded == len(events)
    rows = duckdb_warehouse.query(
        "select event_id, transaction_kind, organization_id, contact_id, entity_type, entity_id, subtotal"
        " from raw.feed_events"
    )
    assert {r[0] for r in rows} == set(events)
    assert {r[1] for r in rows} == {0, 1, 2, 3}
    id_field = {0: "InvoiceId", 1: "AppointmentId", 2: "ProposalId", 3: "EntityId"}
    for event_id, kind, organization_id, contact_id, _, entity_id, subtotal in rows:
        event = events[event_id]
        assert (organization_id, contact_id) == (event["OrganizationId"], event.get("ContactId"))
        assert entity_id == event[id_field[kind]]
        assert subtotal == (Decimal(str(event["Subtotal"])) if "Subtotal" in event else None)

    expected = {(d.kind_key, d.entity_id) for d in truth.deletions if d.feed_event}
    by_type = {k.entity_type: k.key for k in ALL_KINDS}
    stored = {(by_type[t], i) for t, i in duckdb_warehouse.deletions("feed")}
    assert stored == expected
    assert {t for t, _ in duckdb_warehouse.deletions("feed")} == set(ENTITY_TYPES)
    assert {(d.kind_key, d.entity_id) for d in truth.deletions if not d.feed_event}.isdisjoint(stored)


def test_a_redelivered_delete_stays_one_row(duckdb_warehouse: TestWarehouse, sandbox, client) -> None:
    delete = {"TransactionKind": 3, "OrganizationId": 1, "EntityType": "Contact", "EntityId": 42, "DeletedAt": None}
    sandbox.feed.enqueue([delete])
    load_feed(duckdb_warehouse.pipeline(), client)
    sandbox.feed.enqueue([delete])  # serviceminder sends the same delete again later

    load_feed(duckdb_warehouse.pipeline(), client)

    rows = duckdb_warehouse.query("select entity_id, deleted_at, event_id from raw.deletions")
    assert len(rows) == 1 and rows[0][:2] == (42, None)


# -- acceptance: gaps ------------------------------------------------------------------------------------------


def test_a_purge_gap_is_reported_and_requests_a_full_refresh_of_every_kind(
    duckdb_warehouse: TestWarehouse, sandbox: Sandbox, client: ServiceminderClient
) -> None:
    sandbox.feed.enqueue(mixed_events(3))
    first = load_feed(duckdb_warehouse.pipeline(), client)
    assert not first.gaps and full_refresh_requested(duckdb_warehouse.pipeline()) == set()

    lost = sandbox.feed.enqueue(mixed_events(4, start=3))
    sandbox.feed.purge_oldest(2)
    second = load_feed(duckdb_warehouse.pipeline(), client)

    assert [(g.after_id, g.next_id, g.missing) for g in second.gaps] == [(first.cleared_through, lost[2], 2)]
    assert len(second.warnings) == 1 and FULL_REFRESH_COMMAND in second.warnings[0]
    assert second.full_refresh_needed == set(ALL_KIND_KEYS)
    assert full_refresh_requested(duckdb_warehouse.pipeline()) == set(ALL_KIND_KEYS)
    assert "purged 2 event(s)" in full_refresh_reasons(duckdb_warehouse.pipeline())["contacts"]
    assert [r[0] for r in feed_rows(duckdb_warehouse)][-2:] == lost[2:]  # what survived the purge is stored

    third = load_feed(duckdb_warehouse.pipeline(), client)  # the request stays until a full refresh acknowledges it
    assert not third.gaps and third.full_refresh_needed == set(ALL_KIND_KEYS)


def test_a_gap_inside_one_run_is_detected(duckdb_warehouse: TestWarehouse, sandbox, client) -> None:
    ids = sandbox.feed.enqueue(mixed_events(8))
    sandbox.feed.on_next_fetch(lambda: sandbox.feed.purge_oldest(5))  # purges the 3 fetched and 2 unfetched

    result = load_feed(duckdb_warehouse.pipeline(), client, event_count=3)

    assert [(g.after_id, g.next_id) for g in result.gaps] == [(ids[2], ids[5])]
    assert [r[0] for r in feed_rows(duckdb_warehouse)] == ids[:3] + ids[5:]


def test_the_full_refresh_request_is_committed_to_the_warehouse_and_acknowledged(
    duckdb_warehouse: TestWarehouse, sandbox: Sandbox, client: ServiceminderClient, tmp_path: Path
) -> None:
    sandbox.feed.enqueue(mixed_events(2))
    load_feed(duckdb_warehouse.pipeline(), client)
    sandbox.feed.enqueue(mixed_events(3))
    sandbox.feed.purge_oldest(1)
    load_feed(duckdb_warehouse.pipeline(), client)

    duckdb_warehouse.pipeline().drop()  # the working folder is lost: the state must come back from the warehouse
    restored = duckdb_warehouse.pipeline()
    restored.sync_destination()
    assert full_refresh_requested(restored) == set(ALL_KIND_KEYS)

    remaining = acknowledge_full_refresh(restored, {"contacts", "payments"})
    assert remaining == set(ALL_KIND_KEYS) - {"contacts", "payments"}
    assert acknowledge_full_refresh(duckdb_warehouse.pipeline(), ALL_KIND_KEYS) == set()

    duckdb_warehouse.pipeline().drop()
    again = duckdb_warehouse.pipeline()
    again.sync_destination()
    assert full_refresh_requested(again) == set()
    with pytest.raises(ValueError, match="unknown kind"):
        acknowledge_full_refresh(again, {"customers"})


def test_no_gap_is_reported_when_gap_detection_is_off(duckdb_warehouse: TestWarehouse, sandbox, client) -> None:
    sandbox.feed.enqueue(mixed_events(2))
    load_feed(duckdb_warehouse.pipeline(), client)
    sandbox.feed.enqueue(mixed_events(3))
    sandbox.feed.purge_oldest(1)

    result = load_feed(duckdb_warehouse.pipeline(), client, detect_gaps=False)

    assert not result.gaps and full_refresh_requested(duckdb_warehouse.pipeline()) == set()


# -- acceptance: org-level keys, the API key ------------------------------------------------------------------


def test_org_level_keys_skip_the_feed_with_an_info_message(
    duckdb_warehouse: TestWarehouse, sandbox: Sandbox, client: ServiceminderClient, caplog: pytest.LogCaptureFixture
) -> None:
    sandbox.feed.enqueue(mixed_events(2))
    with caplog.at_level(logging.INFO, logger="pipelines.serviceminder.feed"):
        result = load_feed(duckdb_warehouse.pipeline(), client, org_level=True)

    assert result.skipped and result.events_loaded == 0
    assert sandbox.requests == [] and len(sandbox.feed) == 2
    assert [r.levelno for r in caplog.records] == [logging.INFO] and "no event feed" in caplog.text


def test_the_api_key_is_stored_nowhere(warehouse: TestWarehouse, sandbox: Sandbox, client: ServiceminderClient) -> None:
    sandbox.feed.enqueue(mixed_events(6))
    load_feed(warehouse.pipeline(), client, event_count=4)
    sandbox.feed.enqueue(mixed_events(2))
    sandbox.feed.purge_oldest(1)
    load_feed(warehouse.pipeline(), client, event_count=4)  # a gap: its message lands in dlt state

    assert "ApiKey" not in warehouse.all_text()
    assert API_KEY not in warehouse.all_text()
    states = [decompress_state(s) for (s,) in warehouse.query("select state from raw._dlt_pipeline_state")]
    assert any(FEED_SOURCE_NAME in st.get("sources", {}) for st in states)  # the compressed state was really read
    assert API_KEY not in json.dumps(states, default=str)
    assert warehouse.query("select count(*) from raw.feed_events") == [(7,)]
    files = [p for p in warehouse.pipelines_dir.rglob("*") if p.is_file()]
    if warehouse.name == "duckdb":
        files.append(Path(warehouse.location))
    assert files
    for path in files:
        assert API_KEY.encode() not in path.read_bytes(), path


# -- failure paths -------------------------------------------------------------------------------------------


def _answer(client: ServiceminderClient, monkeypatch: pytest.MonkeyPatch, fetch: Callable[[dict], dict]) -> None:
    real = client.call
    monkeypatch.setattr(
        client, "call", lambda p, body=None: fetch(real(p, body)) if p == BRAND_PATHS.fetch else real(p, body)
    )


def test_an_event_without_an_id_stops_the_run_before_anything_is_cleared(
    duckdb_warehouse: TestWarehouse, sandbox, client, monkeypatch
) -> None:
    sandbox.feed.enqueue(mixed_events(3))
    _answer(client, monkeypatch, lambda r: {**r, "Events": [*r["Events"][:2], {"TransactionKind": 1}]})

    with pytest.raises(FeedError, match="without a numeric Id; nothing was cleared"):
        load_feed(duckdb_warehouse.pipeline(), client)
    assert clears(sandbox) == [] and highest_stored_event_id(duckdb_warehouse.pipeline()) is None


def test_a_fetch_answer_without_an_event_list_stops_the_run(
    duckdb_warehouse: TestWarehouse, sandbox, client, monkeypatch
) -> None:
    sandbox.feed.enqueue(mixed_events(1))
    _answer(client, monkeypatch, lambda r: {**r, "Events": "none"})

    with pytest.raises(FeedError, match="not a list; nothing was cleared"):
        load_feed(duckdb_warehouse.pipeline(), client)
    assert clears(sandbox) == []


def test_a_server_that_ignores_the_clear_does_not_make_the_run_loop(
    duckdb_warehouse: TestWarehouse, sandbox, client, monkeypatch
) -> None:
    sandbox.feed.enqueue(mixed_events(4))
    real = client.call
    monkeypatch.setattr(client, "call", lambda p, body=None: {} if p == BRAND_PATHS.clear else real(p, body))

    with pytest.raises(FeedError, match="after they were cleared"):
        load_feed(duckdb_warehouse.pipeline(), client, event_count=2)
    assert len(feed_rows(duckdb_warehouse)) == 2


@pytest.mark.parametrize(("kwargs", "message"), [({"event_count": 0}, "event_count"), ({"max_events": -1}, "max")])
def test_bad_arguments_are_refused(duckdb_warehouse: TestWarehouse, client, kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        load_feed(duckdb_warehouse.pipeline(), client, **kwargs)
