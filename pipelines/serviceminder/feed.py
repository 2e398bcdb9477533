"""The event feed: fetch a batch, load it, clear through the highest Id now stored, repeat. No event is ever lost.

serviceminder's fetch keeps answering with the same oldest events until they are cleared, and it may purge events
nobody cleared (shared/reference/serviceminder-api.md §3). So one run pages through the queue like this:

1. finish load packages an interrupted run left behind (``finish_pending_packages``), so ``pipeline.run`` extracts;
2. fetch up to ``event_count`` events;
3. load them with the ``serviceminder_feed`` dlt source into ``raw.feed_events`` (merged on ``event_id``) and, for
   Entity Deleted events, ``raw.deletions``; ``pipeline.run`` returns once the load is committed;
4. check in the warehouse that every fetched Id is there, then clear through the highest of them;
5. repeat until a fetch comes back empty (the queue is drained) or ``max_events`` is reached.

A crash before step 4 leaves the events in the queue; the next run loads them again and the merge on ``event_id``
absorbs the copies. A crash between extract and load leaves a pending package, which the next run loads first, so
even events serviceminder purged in between survive. The clear never goes above an Id this run fetched and found
stored, so events that arrive after a fetch stay in the queue.

Gaps: event Ids are assumed to be contiguous within a brand's queue (``EVENT_IDS_CONTIGUOUS``). A jump past the
highest stored Id means serviceminder purged events before anyone fetched them, Entity Deleted events perhaps among
them. The run then reports the gap and records, in dlt state committed with the same load, that every download kind
needs a full refresh (``full_refresh_requested``; acknowledge with ``acknowledge_full_refresh``).
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import dlt
from dlt.common import logger as dlt_logger
from dlt.destinations.exceptions import DatabaseUndefinedRelation
from dlt.extract.resource import DltResource
from dlt.pipeline.exceptions import PipelineStepFailed

from pipelines.serviceminder.client import ServiceminderClient, ServiceminderError
from pipelines.serviceminder.deletions import deletions_resource_hints
from pipelines.serviceminder.feed_events import (
    FEED_EVENTS_TABLE,
    FeedFormatError,
    MappedBatch,
    feed_events_resource_hints,
    map_events,
)
from pipelines.serviceminder.kinds import ALL_KINDS, DEFAULT_EVENT_COUNT, ApiPaths, paths_for
from pipelines.serviceminder.pipeline import LOADER_FILE_FORMAT, utc_now
from pipelines.serviceminder.redaction import REDACTOR

log = logging.getLogger(__name__)

FEED_SOURCE_NAME = "serviceminder_feed"
FULL_REFRESH_STATE_KEY = "full_refresh_requested"
FULL_REFRESH_COMMAND = "smw run --full-refresh"
ALL_KIND_KEYS: frozenset[str] = frozenset(k.key for k in ALL_KINDS)
# [assumed] Ids of one brand's queue have no holes, so a jump means purged events. The sandbox's Ids are contiguous;
# serviceminder only documents that they grow. Pass detect_gaps=False if a real queue turns out to skip Ids.
EVENT_IDS_CONTIGUOUS = True


class FeedError(Exception):
    """The feed run stopped. ``result`` holds what it did before stopping. Messages never contain the API key."""

    def __init__(self, message: str, result: FeedResult | None = None) -> None:
        super().__init__(REDACTOR.redact(message))
        self.result = result


class FeedLoadError(FeedError):
    """Fetched events could not be committed to the warehouse; nothing that is not stored was cleared."""


class FeedClearError(FeedError):
    """The events are stored, but serviceminder did not accept the clear; the next run re-delivers and clears them."""


@dataclass(frozen=True)
class FeedGap:
    """Event Ids jumped from ``after_id`` (the highest stored) to ``next_id``: the events between were purged."""

    after_id: int
    next_id: int

    @property
    def missing(self) -> int:
        return self.next_id - self.after_id - 1

    def message(self) -> str:
        return (
            f"feed event Ids jump from {self.after_id} to {self.next_id}: serviceminder purged {self.missing} "
            "event(s) before they were fetched, so deletions may be missing from raw.deletions; a full refresh of "
            f"every download kind was requested for the next nightly run, or start one now with "
            f"`{FULL_REFRESH_COMMAND}`"
        )


@dataclass
class FeedResult:
    """What one ``load_feed`` call did."""

    skipped: bool = False  # organization-level key: there is no feed
    events_loaded: int = 0  # distinct events fetched and committed (re-delivered ones included)
    redelivered: int = 0  # of those, events already stored before this run (a crash before the clear)
    deletions: int = 0  # Entity Deleted events written to raw.deletions
    batches: int = 0  # fetch → load → clear rounds
    pending_packages_loaded: int = 0  # load packages of an interrupted run, finished first
    cleared_through: int | None = None  # the highest Id this run cleared
    highest_stored_id: int | None = None  # max(event_id) in raw.feed_events at the end
    capped: bool = False  # stopped at max_events; more events may be waiting
    gaps: list[FeedGap] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    full_refresh_needed: set[str] = field(default_factory=set)  # kinds with an unacknowledged request
    load_ids: list[str] = field(default_factory=list)


# -- the dlt source ----------------------------------------------------------------------------------------------


@dlt.source(name=FEED_SOURCE_NAME, max_table_nesting=0)
def serviceminder_feed(
    batch: MappedBatch | None = None,
    *,
    gaps: Sequence[FeedGap] = (),
    acknowledge: Collection[str] = (),
    noted_at: datetime | None = None,
) -> list[DltResource]:
    """One fetched batch as dlt resources: ``feed_events`` and its Entity Deleted events as ``deletions``.

    The source does not fetch or clear: the clear must sit between two committed loads, so ``load_feed`` owns the
    loop. ``gaps`` and ``acknowledge`` change the full-refresh requests in this source's dlt state, which dlt
    commits to the warehouse with the same load as the events.
    """
    noted = (noted_at or utc_now()).isoformat(timespec="seconds")

    @dlt.resource(name=FEED_EVENTS_TABLE, **feed_events_resource_hints())
    def feed_events() -> Iterator[Any]:
        requests = dlt.current.source_state().setdefault(FULL_REFRESH_STATE_KEY, {})
        for kind in acknowledge:
            requests.pop(kind, None)
        for gap in gaps:
            for kind in sorted(ALL_KIND_KEYS):
                requests[kind] = {"reason": gap.message(), "requested_at": noted}
        if batch is not None and batch.events.num_rows:
            yield batch.events

    @dlt.resource(name="feed_deletions", **copy.deepcopy(deletions_resource_hints()))
    def feed_deletions() -> Iterator[Any]:
        if batch is not None and batch.deletions.num_rows:
            yield batch.deletions

    return [feed_events, feed_deletions]


# -- one feed run --------------------------------------------------------------------------------------------------


def load_feed(
    pipeline: dlt.Pipeline,
    client: ServiceminderClient,
    *,
    event_count: int = DEFAULT_EVENT_COUNT,
    max_events: int | None = None,
    org_level: bool = False,
    paths: ApiPaths | None = None,
    detect_gaps: bool = EVENT_IDS_CONTIGUOUS,
    now: Callable[[], datetime] = utc_now,
) -> FeedResult:
    """Drain the feed into ``pipeline`` (see the module docstring), clearing only what is committed.

    ``event_count`` is the EventCount of each fetch; ``max_events`` caps one run (None: until the queue is drained).
    Raises ``FeedLoadError`` / ``FeedClearError`` / ``FeedError`` (with ``.result``) when it has to stop; client
    errors (``ServiceminderError``) from a fetch propagate unchanged. Nothing unstored is ever cleared.
    """
    if org_level:
        log.info("organization-level API keys have no event feed; skipping the feed")
        return FeedResult(skipped=True)
    if event_count < 1:
        raise ValueError(f"event_count must be 1 or more; got {event_count}")
    if max_events is not None and max_events < 0:
        raise ValueError(f"max_events must be 0 or more (or None for no cap); got {max_events}")
    paths = paths or paths_for(org_level=False)
    if not paths.fetch or not paths.clear:
        raise ValueError("the feed needs the fetch and clear paths; organization-level keys have no feed")

    result = FeedResult()
    try:
        result.pending_packages_loaded = finish_pending_packages(pipeline)
        stored_before = highest_stored_event_id(pipeline)
        committed = stored_before
        with _quiet_payload_hint_warning():
            while True:
                want = event_count if max_events is None else min(event_count, max_events - result.events_loaded)
                if want <= 0:
                    result.capped = True
                    break
                events = _fetch(client, paths.fetch, want)
                if not events:
                    break
                received_at = now()
                batch = map_events(events, received_at)
                ids = batch.event_ids
                if result.cleared_through is not None and ids[-1] <= result.cleared_through:
                    raise FeedError(
                        f"serviceminder answered the fetch with events up to Id {ids[-1]} after they were cleared "
                        f"through {result.cleared_through}; stopping so the run does not loop: check the clear path "
                        f"({paths.clear})"
                    )
                gaps = find_gaps(committed, ids) if detect_gaps else []
                for gap in gaps:
                    log.warning("%s", gap.message())
                    result.gaps.append(gap)
                    result.warnings.append(gap.message())
                _warn_about_mapping(batch, result)

                result.load_ids.extend(_load_batch(pipeline, serviceminder_feed(batch, gaps=gaps, noted_at=now())))
                through = _check_stored(pipeline, ids)
                _clear(client, paths.clear, through)

                result.batches += 1
                result.events_loaded += len(ids)
                result.redelivered += sum(1 for i in ids if stored_before is not None and i <= stored_before)
                result.deletions += batch.deletions.num_rows
                result.cleared_through = through
                committed = through if committed is None else max(committed, through)
                # No early stop on a short batch: serviceminder may cap EventCount below what we ask, and a short
                # answer would then end every run after one batch. One empty fetch per run is the price.
        result.highest_stored_id = committed
        result.full_refresh_needed = full_refresh_requested(pipeline)
    except FeedError as exc:
        exc.result = result
        raise
    except FeedFormatError as exc:
        raise FeedError(str(exc), result) from exc
    log.info(
        "feed: %d event(s) in %d batch(es), cleared through %s, %d deletion(s), %d gap(s)",
        result.events_loaded,
        result.batches,
        result.cleared_through,
        result.deletions,
        len(result.gaps),
    )
    return result


def find_gaps(highest_stored: int | None, ids: Sequence[int]) -> list[FeedGap]:
    """Jumps past ``highest_stored`` + 1 in ascending ``ids``; Ids at or below it (re-deliveries) are fine."""
    gaps = []
    previous = highest_stored
    for event_id in ids:
        if previous is not None and event_id > previous + 1:
            gaps.append(FeedGap(after_id=previous, next_id=event_id))
        previous = event_id if previous is None else max(previous, event_id)
    return gaps


def finish_pending_packages(pipeline: dlt.Pipeline) -> int:
    """Normalize and load packages an interrupted run left behind; returns how many there were.

    ``pipeline.run`` would do this too, but then return without extracting the new data it was given. A package
    that still fails stays pending and this raises: none of its events was cleared, so nothing is lost.
    """
    if not pipeline.has_pending_data:
        return 0
    count = len(pipeline.list_extracted_load_packages()) + len(pipeline.list_normalized_load_packages())
    log.warning("loading %d load package(s) left by an interrupted run before fetching new events", count)
    try:
        if pipeline.list_extracted_load_packages():
            pipeline.normalize()
        if pipeline.list_normalized_load_packages():
            pipeline.load()
    except PipelineStepFailed as exc:
        raise FeedLoadError(
            f"a load package left by an interrupted run could not be loaded ({_cause(exc)}); no event in it was "
            "cleared, so nothing is lost: fix the cause and rerun, or drop the package with `dlt pipeline "
            f"{pipeline.pipeline_name} drop-pending-packages` (serviceminder then re-delivers the events it still has)"
        ) from exc
    if pipeline.has_pending_data:
        raise FeedLoadError(
            "load packages left by an interrupted run are still pending after loading them; inspect them with "
            f"`dlt pipeline {pipeline.pipeline_name} info` and rerun"
        )
    return count


def highest_stored_event_id(pipeline: dlt.Pipeline) -> int | None:
    """``max(event_id)`` in ``raw.feed_events``: what the warehouse really holds, whatever happened before."""
    try:
        with pipeline.sql_client() as sql:
            rows = sql.execute_sql(f"select max(event_id) from {sql.make_qualified_table_name(FEED_EVENTS_TABLE)}")
    except DatabaseUndefinedRelation:
        return None
    value = rows[0][0] if rows else None
    return int(value) if value is not None else None


# -- full-refresh requests (dlt state of the feed source) -----------------------------------------------------------


def full_refresh_requested(pipeline: dlt.Pipeline) -> set[str]:
    """Kind keys ("contacts", ...) whose next download must be a full refresh because the feed found a gap."""
    sources = pipeline.state.get("sources", {})
    return set(sources.get(FEED_SOURCE_NAME, {}).get(FULL_REFRESH_STATE_KEY, {}))


def full_refresh_reasons(pipeline: dlt.Pipeline) -> dict[str, str]:
    """Kind key -> why its full refresh was requested (the gap message)."""
    requests = pipeline.state.get("sources", {}).get(FEED_SOURCE_NAME, {}).get(FULL_REFRESH_STATE_KEY, {})
    return {kind: str(entry.get("reason", "")) for kind, entry in requests.items()}


def acknowledge_full_refresh(
    pipeline: dlt.Pipeline, kinds: Collection[str], *, now: Callable[[], datetime] = utc_now
) -> set[str]:
    """Withdraw the requests for ``kinds`` after their full refresh has been loaded; returns the kinds still due.

    The change is committed to the warehouse at once (a state-only load of the feed source).
    """
    unknown = set(kinds) - ALL_KIND_KEYS
    if unknown:
        raise ValueError(f"unknown kind(s) {sorted(unknown)}; expected some of {sorted(ALL_KIND_KEYS)}")
    if not set(kinds) & full_refresh_requested(pipeline):
        return full_refresh_requested(pipeline)
    finish_pending_packages(pipeline)
    with _quiet_payload_hint_warning():
        _load_batch(pipeline, serviceminder_feed(acknowledge=set(kinds), noted_at=now()))
    return full_refresh_requested(pipeline)


# -- internals -------------------------------------------------------------------------------------------------


def _fetch(client: ServiceminderClient, path: str, count: int) -> list[Mapping[str, Any]]:
    response = client.call(path, {"EventCount": count})
    events = response.get("Events")
    if events is None:
        return []
    if not isinstance(events, list):
        raise FeedFormatError(
            f"serviceminder answered {path} with 'Events' as {type(events).__name__}, not a list; nothing was "
            "cleared: check the fetch path"
        )
    return events


def _load_batch(pipeline: dlt.Pipeline, source: Any) -> list[str]:
    """Extract, normalize and load ``source``; return its load ids once the load is committed."""
    if pipeline.has_pending_data:  # run() would load those and silently skip ours
        raise FeedLoadError(
            "the pipeline has pending load packages, so a run would not extract the fetched events; "
            "nothing was cleared: rerun the feed, which loads those packages first"
        )
    try:
        info = pipeline.run(source, loader_file_format=LOADER_FILE_FORMAT)
    except PipelineStepFailed as exc:
        raise FeedLoadError(
            f"loading feed events into the warehouse failed in the {exc.step} step ({_cause(exc)}); nothing was "
            "cleared, so no event is lost: fix the cause and rerun"
        ) from exc
    if pipeline.has_pending_data:
        raise FeedLoadError(
            "the feed's load package is still pending after the load; nothing was cleared: rerun the feed"
        )
    return list(info.loads_ids) if info is not None else []


def _check_stored(pipeline: dlt.Pipeline, ids: Sequence[int]) -> int:
    """Confirm in the warehouse that every fetched Id is stored; return the highest, the safe clear point."""
    low, high = ids[0], ids[-1]
    try:
        with pipeline.sql_client() as sql:
            table = sql.make_qualified_table_name(FEED_EVENTS_TABLE)
            rows = sql.execute_sql(f"select event_id from {table} where event_id between {int(low)} and {int(high)}")
    except DatabaseUndefinedRelation:
        rows = []
    missing = set(ids) - {int(r[0]) for r in rows}
    if missing:
        raise FeedLoadError(
            f"the load finished but {len(missing)} fetched event(s) (first Id {min(missing)}) are not in "
            f"raw.{FEED_EVENTS_TABLE}; nothing was cleared, so no event is lost: rerun the feed"
        )
    return high


def _clear(client: ServiceminderClient, path: str, through: int) -> None:
    try:
        client.call(path, {"ClearThroughId": through})
    except ServiceminderError as exc:
        raise FeedClearError(
            f"feed events through Id {through} are stored in the warehouse, but clearing them failed ({exc}); "
            "nothing is lost: the next run fetches them again and clears them"
        ) from exc


def _warn_about_mapping(batch: MappedBatch, result: FeedResult) -> None:
    for entity_type, n in sorted(batch.unknown_entity_types.items()):
        message = (
            f"{n} Entity Deleted event(s) name the unknown entity type {entity_type!r}; they were kept in "
            "raw.deletions all the same"
        )
        log.warning("%s", message)
        result.warnings.append(message)
    if batch.unusable_deletes:
        message = (
            f"{len(batch.unusable_deletes)} Entity Deleted event(s) lack an EntityType or a numeric EntityId "
            f"(first event Id {batch.unusable_deletes[0]}); they are kept in raw.feed_events but cannot be "
            "recorded in raw.deletions"
        )
        log.warning("%s", message)
        result.warnings.append(message)


def _cause(exc: PipelineStepFailed) -> str:
    inner = exc.exception if exc.exception is not None else exc
    text = " ".join(str(inner).split())
    return REDACTOR.redact(text[:300] + ("…" if len(text) > 300 else ""))


class _PayloadHintFilter(logging.Filter):
    """Drops dlt's per-run warning that the ``payload`` json hint overrides the Arrow string type: that is intended."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (
            record.levelno == logging.WARNING
            and f"In resource: {FEED_EVENTS_TABLE}, when merging arrow schema" in record.getMessage()
        )


@contextmanager
def _quiet_payload_hint_warning() -> Iterator[None]:
    target = dlt_logger.LOGGER or logging.getLogger("dlt")
    quiet = _PayloadHintFilter()
    target.addFilter(quiet)
    try:
        yield
    finally:
        target.removeFilter(quiet)
