"""The ``serviceminder_downloads`` dlt source: one merge resource per kind, incremental or full refresh.

State (dlt source state, committed with the load that carries the data):
``kinds.<key>.watermark`` is the last ``UpdatedThrough`` day loaded; ``kinds.<key>.last_full_refresh`` the day of
the last full refresh; ``kinds.<key>.refreshed_at`` the ``_loaded_at`` stamp of a full refresh whose deletions have
not yet been detected; ``kinds.<key>.appended_at`` the stamp of a first load whose table has not yet been checked for
duplicate ids. Detection and the check run as the ``full_refresh_deletions`` resource after the load is committed, so
a crash between the two only delays them to the next run.

A kind's first load into an empty raw table is appended, not merged: the merge's staging copy and dedup of a 1M-row
first load took longer than parsing it. Appending can duplicate rows only if a load job runs twice (a process killed
after the warehouse committed the job but before dlt recorded it); the check after the load removes such twins.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, TypeVar

import dlt
import pyarrow as pa
import pyarrow.compute as pc
from dlt.sources import DltResource

from pipelines.serviceminder.client import ServiceminderClient
from pipelines.serviceminder.csv_arrow import RejectedRow, dlt_column_hints
from pipelines.serviceminder.deletions import Deletion, deletions_resource_hints, deletions_table
from pipelines.serviceminder.downloads import DownloadFilters, DownloadScheduler, DownloadSettings
from pipelines.serviceminder.kinds import ALL_KINDS, Kind, paths_for
from pipelines.serviceminder.pipeline import LOADER_FILE_FORMAT, raise_source_errors, utc_now, warehouse_kept_open

log = logging.getLogger(__name__)
T = TypeVar("T")

SOURCE_NAME = "serviceminder_downloads"
LOADED_AT = "_loaded_at"  # when this pipeline last received the record (UTC); staging compares it to deletions
REJECTED_TABLE = "rejected_rows"
DELETIONS_RESOURCE = "full_refresh_deletions"
DEFAULT_OVERLAP_DAYS = 2
# delete-insert, not upsert: it also collapses duplicate keys within one load package
MERGE: dict[str, str] = {"disposition": "merge", "strategy": "delete-insert"}
APPEND = "append"


@dataclass
class KindOutcome:
    """What one run did for one kind; filled in while dlt extracts."""

    mode: str = "incremental"  # or "full"
    filters: DownloadFilters = field(default_factory=DownloadFilters)
    pages: int = 0
    rows: int = 0
    rejected: int = 0
    appended: bool = False  # a first load into an empty table: appended, then checked for duplicate ids
    ids_ascending: bool = True  # every page's ids rose strictly, each page above the last: the download has no twins
    last_id: int | None = None  # the highest id of the pages so far
    missing_columns: list[str] = field(default_factory=list)
    extra_columns: list[str] = field(default_factory=list)
    deletions: int = 0


@dataclass
class DownloadRun:
    """Shared by the resources of one source instance: the plan, the scheduler and the outcome."""

    loaded_at: datetime
    outcomes: dict[str, KindOutcome] = field(default_factory=dict)
    scheduler: DownloadScheduler | None = None
    # the one thread that drives the scheduler: it fetches and parses a kind's next page while dlt writes this one
    fetcher: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(max_workers=1, thread_name_prefix="smw-fetch-ahead")
    )


REJECTED_COLUMNS: dict[str, dict[str, Any]] = {
    "kind": {"data_type": "text", "nullable": False},
    "download_id": {"data_type": "text", "nullable": False},
    "line_number": {"data_type": "bigint", "nullable": False},
    "raw_line": {"data_type": "text", "nullable": False},
    "reason": {"data_type": "text", "nullable": False},
    "entity_id": {"data_type": "bigint", "nullable": True},  # the record's Id, when the rejected line had one
    "detected_at": {"data_type": "timestamp", "timezone": False, "nullable": False},
}


# one row per distinct rejected line of a kind: a rerun that meets the same line again updates it, not adds it
REJECTED_HINTS = dlt.mark.make_hints(
    table_name=REJECTED_TABLE, write_disposition=MERGE, primary_key=["kind", "raw_line"], columns=REJECTED_COLUMNS
)


_REJECTED_ARROW_TYPES = {"text": pa.string(), "bigint": pa.int64(), "timestamp": pa.timestamp("us")}
# nullability as the hints say, so that dlt has no difference between the two to warn about
REJECTED_SCHEMA = pa.schema(
    [
        pa.field(name, _REJECTED_ARROW_TYPES[hint["data_type"]], nullable=hint["nullable"])
        for name, hint in REJECTED_COLUMNS.items()
    ]
)


def _rejected_table(rows: Sequence[RejectedRow], detected_at: datetime) -> pa.Table:
    return pa.table(
        {
            "kind": [r.kind for r in rows],
            "download_id": [r.download_id for r in rows],
            "line_number": [r.line_number for r in rows],
            "raw_line": [r.raw_line for r in rows],
            "reason": [r.reason for r in rows],
            "entity_id": [r.entity_id for r in rows],
            "detected_at": [detected_at] * len(rows),
        },
        schema=REJECTED_SCHEMA,
    )


def _kind_state(state: dict[str, Any], kind: Kind) -> dict[str, Any]:
    return state.setdefault("kinds", {}).setdefault(kind.key, {})


def plan_filters(
    kind_state: dict[str, Any], *, full_refresh: bool, today: date, overlap_days: int
) -> tuple[str, DownloadFilters]:
    """Incremental from the watermark minus the overlap through today, or everything on a full refresh."""
    watermark = kind_state.get("watermark")
    if full_refresh or not watermark:
        return "full", DownloadFilters()
    start = date.fromisoformat(watermark) - timedelta(days=overlap_days)
    return "incremental", DownloadFilters(updated_from=start, updated_through=today)


@dlt.source(name=SOURCE_NAME, max_table_nesting=0)
def serviceminder_downloads(
    client: ServiceminderClient,
    *,
    kinds: Sequence[Kind] = ALL_KINDS,
    full_refresh: Collection[str] = (),
    today: date | None = None,
    overlap_days: int = DEFAULT_OVERLAP_DAYS,
    org_level: bool = False,
    user_id: str | None = None,
    path_overrides: dict[str, str] | None = None,
    settings: DownloadSettings | None = None,
    clock: Callable[[], float] | None = None,
    sleep: Callable[[float], None] | None = None,
    now: Callable[[], datetime] = utc_now,
    run: DownloadRun | None = None,
) -> Iterator[DltResource]:
    """One merge resource per kind, plus ``full_refresh_deletions`` (not selected by default).

    ``full_refresh`` holds kind keys to download whole; a kind with no watermark yet is always loaded whole.
    ``run`` lets the caller read what happened (rows, pages, rejected rows, missing columns) after the load.
    """
    today = today or date.today()
    run = run if run is not None else DownloadRun(loaded_at=now())

    def scheduler() -> DownloadScheduler:
        # Created on first use, inside dlt's extract: only there is source state the state that gets committed
        # with the load. Building the source (e.g. to select only the deletions) calls nothing.
        if run.scheduler is None:
            state = dlt.current.source_state()
            plans: list[tuple[Kind, DownloadFilters]] = []
            for kind in kinds:
                mode, filters = plan_filters(
                    _kind_state(state, kind),
                    full_refresh=kind.key in full_refresh,
                    today=today,
                    overlap_days=overlap_days,
                )
                appended = mode == "full" and raw_table_is_empty(dlt.current.pipeline(), kind)
                run.outcomes[kind.key] = KindOutcome(mode=mode, filters=filters, appended=appended)
                plans.append((kind, filters))
            extra: dict[str, Any] = {"clock": clock} if clock else {}
            if sleep:
                extra["sleep"] = sleep
            run.scheduler = DownloadScheduler(
                client,
                paths_for(org_level, path_overrides),
                plans,
                org_level=org_level,
                user_id=user_id,
                settings=settings or DownloadSettings(),
                **extra,
            )
        return run.scheduler

    for kind in kinds:
        yield _kind_resource(kind, scheduler, run, today)
    yield dlt.resource(
        _full_refresh_deletions(kinds, run, now),
        name=DELETIONS_RESOURCE,
        selected=False,
        **deletions_resource_hints(),
    )


def _kind_resource(
    kind: Kind,
    scheduler: Callable[[], DownloadScheduler],
    run: DownloadRun,
    today: date,
) -> DltResource:
    def pages() -> Iterator[Any]:
        reported_missing = False
        pages = scheduler()
        outcome = run.outcomes[kind.key]
        table_hints = kind_table_hints(kind, append=outcome.appended)
        for page in read_ahead(lambda: pages.next_page(kind.key), run.fetcher, stop=pages.stop):
            outcome.pages += 1
            if page.report.missing_columns and not reported_missing:
                reported_missing = True
                outcome.missing_columns = list(page.report.missing_columns)
                log.warning(
                    "the %s download has no column(s) %s; they are loaded as NULL",
                    kind.key,
                    ", ".join(page.report.missing_columns),
                )
            outcome.extra_columns = sorted(set(outcome.extra_columns) | set(page.report.extra_columns))
            if page.report.rows:
                table = page_table(page.batches, kind, outcome, run.loaded_at)
                yield dlt.mark.with_hints(table, table_hints, create_table_variant=True)
            if page.report.rejected:
                outcome.rejected += len(page.report.rejected)
                yield dlt.mark.with_hints(
                    _rejected_table(page.report.rejected, run.loaded_at), REJECTED_HINTS, create_table_variant=True
                )
            outcome.rows += page.report.rows
        kind_state = _kind_state(dlt.current.source_state(), kind)
        kind_state["watermark"] = (outcome.filters.updated_through or today).isoformat()
        if outcome.mode == "full":
            kind_state["last_full_refresh"] = today.isoformat()
            kind_state["refreshed_at"] = run.loaded_at.isoformat()
        if outcome.appended:
            kind_state["appended_at"] = run.loaded_at.isoformat()

    return dlt.resource(pages, name=kind.key)


def page_table(batches: Sequence[pa.RecordBatch], kind: Kind, outcome: KindOutcome, loaded_at: datetime) -> pa.Table:
    """The page as one stamped table; notes in ``outcome`` whether its ids still rise strictly."""
    table = _stamped(batches, loaded_at)
    ids = table.column(kind.primary_key).combine_chunks()
    outcome.ids_ascending = outcome.ids_ascending and _rises_strictly(ids, after=outcome.last_id)
    outcome.last_id = pc.max(ids).as_py()
    return table


def _rises_strictly(ids: pa.Array, *, after: int | None) -> bool:
    if after is not None and ids[0].as_py() <= after:
        return False
    return len(ids) < 2 or pc.min(pc.pairwise_diff(ids)).as_py() > 0


def read_ahead(
    next_item: Callable[[], T | None], fetcher: ThreadPoolExecutor, stop: Callable[[], None] = lambda: None
) -> Iterator[T]:
    """``next_item()`` until it returns None, each next one made on ``fetcher`` while the caller holds this one.

    On two cores this overlaps fetching and parsing a page with dlt writing the one before (1M appointments from a
    file: ~0.3 s of 2.6). Errors (and Ctrl-C) surface here, in the caller's thread. Closed early, it calls ``stop``
    and waits for the item in the making, so nothing runs on after the load has ended.
    """
    upcoming = fetcher.submit(next_item)
    try:
        while (item := upcoming.result()) is not None:
            upcoming = fetcher.submit(next_item)
            yield item
    finally:
        if not upcoming.done():
            stop()
            wait([upcoming])


def kind_table_hints(kind: Kind, *, append: bool = False) -> Any:
    """The raw table's hints, attached to every item as a table variant; ``append`` for a first load.

    Hints set on the resource itself would leak into the ``rejected_rows`` variant (dlt clones them as its
    starting point), making e.g. ``id`` NOT NULL there.
    """
    return dlt.mark.make_hints(
        table_name=kind.table,
        write_disposition=APPEND if append else MERGE,
        primary_key=kind.primary_key,
        columns={
            **dlt_column_hints(kind),
            LOADED_AT: {"data_type": "timestamp", "timezone": False, "nullable": False},
        },
    )


def _stamped(batches: Sequence[pa.RecordBatch], loaded_at: datetime) -> pa.Table:
    """The batches as one table (no copy) with the run's ``_loaded_at`` column.

    One table per page, not per batch: dlt's extract spends ~10 ms on every item it is given, whatever its size.
    """
    table = pa.Table.from_batches(batches)
    stamp = pa.repeat(pa.scalar(loaded_at, pa.timestamp("us")), table.num_rows)
    # not nullable, as the column's dlt hint says: otherwise dlt warns about the difference on every batch
    return table.append_column(pa.field(LOADED_AT, stamp.type, nullable=False), stamp)


def _full_refresh_deletions(
    kinds: Sequence[Kind], run: DownloadRun, now: Callable[[], datetime]
) -> Callable[[], Iterator[pa.Table]]:
    def detect() -> Iterator[pa.Table]:
        pipeline = dlt.current.pipeline()
        state = dlt.current.source_state()
        found: list[Deletion] = []
        for kind in kinds:
            kind_state = _kind_state(state, kind)
            if appended_at := kind_state.get("appended_at"):
                this_run = appended_at == run.loaded_at.isoformat()
                check_first_load(pipeline, kind, run.outcomes.get(kind.key) if this_run else None)
                del kind_state["appended_at"]
            refreshed_at = kind_state.get("refreshed_at")
            if not refreshed_at:
                continue
            kind_deletions = _missing_after_refresh(pipeline, kind, datetime.fromisoformat(refreshed_at), now())
            found.extend(kind_deletions)
            if kind.key in run.outcomes:
                run.outcomes[kind.key].deletions = len(kind_deletions)
            del kind_state["refreshed_at"]
        if found:
            yield deletions_table(found)

    return detect


def raw_table_is_empty(pipeline: dlt.Pipeline, kind: Kind) -> bool:
    """True if the kind's raw table does not exist yet or has no rows: its load may be appended."""
    with pipeline.sql_client() as client:
        if not _table_exists(client, kind.table):
            return True
        return not client.execute_sql(f"select 1 from {client.make_qualified_table_name(kind.table)} limit 1")


def check_first_load(pipeline: dlt.Pipeline, kind: Kind, outcome: KindOutcome | None) -> int:
    """After an appended first load: remove twins of any id, unless this run's ``outcome`` proves there are none.

    The proof: the download's ids all rose strictly and the table holds as many rows as were downloaded, so no
    load job ran twice. Its ``count(*)`` is cheap where counting the distinct ids of 1M rows took PostgreSQL 0.3 s.
    A first load from an earlier run, finished by ``settle_pending``, has no such proof: rows merged since then
    change the count, so every id is checked.
    """
    with pipeline.sql_client() as client:
        if not _table_exists(client, kind.table):
            return 0  # the download had no rows, so dlt made no table
        table = client.make_qualified_table_name(kind.table)
        if outcome is not None and outcome.appended and outcome.ids_ascending:
            ((stored,),) = client.execute_sql(f"select count(*) from {table}")
            if int(stored) == outcome.rows:
                return 0
        row_address = _ROW_ADDRESS[pipeline.destination.destination_type.rsplit(".", 1)[-1]]
        twins = _remove_duplicate_ids(client, table, kind.primary_key, row_address)
    if twins:
        log.warning("%s: removed %d duplicate row(s) left by a load job that ran twice", kind.table, twins)
    return twins


# the warehouse's own row address: twins from a replayed job are equal in every column
_ROW_ADDRESS = {"postgres": "ctid", "duckdb": "rowid"}


def _remove_duplicate_ids(client: Any, table: str, key: str, row_address: str) -> int:
    """Delete all but one row of any ``key`` the table holds twice; returns how many rows went."""
    ((twins,),) = client.execute_sql(f"select count(*) - count(distinct {key}) from {table}")
    if twins:
        client.execute_sql(
            f"delete from {table} where {row_address} in (select {row_address} from (select {row_address},"
            f" row_number() over (partition by {key} order by {LOADED_AT} desc) as copy from {table}) as numbered"
            " where copy > 1)"
        )
    return int(twins)


def _missing_after_refresh(
    pipeline: dlt.Pipeline, kind: Kind, refreshed_at: datetime, detected_at: datetime
) -> list[Deletion]:
    """Records the full refresh stamped ``refreshed_at`` did not return, and that no deletion covers yet.

    A record whose line that refresh rejected was returned all the same (just unreadable): it is not deleted.
    """
    with pipeline.sql_client() as client:
        if not _table_exists(client, kind.table):
            return []
        table = client.make_qualified_table_name(kind.table)
        conditions = [f"t.{LOADED_AT} < %s"]
        args: list[Any] = [refreshed_at]
        if _table_exists(client, "deletions"):
            conditions.append(
                f"not exists (select 1 from {client.make_qualified_table_name('deletions')} d"
                f" where d.entity_type = %s and d.entity_id = t.{kind.primary_key} and d.detected_at >= t.{LOADED_AT})"
            )
            args.append(kind.entity_type)
        if _table_exists(client, REJECTED_TABLE):
            conditions.append(
                f"not exists (select 1 from {client.make_qualified_table_name(REJECTED_TABLE)} r"
                f" where r.kind = %s and r.entity_id = t.{kind.primary_key} and r.detected_at >= %s)"
            )
            args += [kind.key, refreshed_at]
        sql = f"select t.{kind.primary_key}, t.organization_id from {table} t where {' and '.join(conditions)}"
        rows = client.execute_sql(sql, *args) or []
    return [
        Deletion(
            entity_type=kind.entity_type,
            entity_id=int(entity_id),
            organization_id=None if organization_id is None else int(organization_id),
            deleted_at=None,
            detected_at=detected_at,
            detected_by="full_refresh",
        )
        for entity_id, organization_id in rows
    ]


def _table_exists(client: Any, table: str) -> bool:
    rows = client.execute_sql(
        "select 1 from information_schema.tables where table_schema = %s and table_name = %s",
        client.dataset_name,
        table,
    )
    return bool(rows)


@dataclass
class DownloadResult:
    outcomes: dict[str, KindOutcome]
    loaded_at: datetime
    load_ids: list[str]

    @property
    def rejected(self) -> int:
        return sum(o.rejected for o in self.outcomes.values())

    @property
    def deletions(self) -> int:
        return sum(o.deletions for o in self.outcomes.values())


def run_downloads(
    pipeline: dlt.Pipeline,
    client: ServiceminderClient,
    *,
    kinds: Sequence[Kind] = ALL_KINDS,
    full_refresh: Collection[str] = (),
    now: Callable[[], datetime] = utc_now,
    **source_options: Any,
) -> DownloadResult:
    """Load the kinds (incrementally, or whole where asked or first seen), then check first loads for duplicate ids
    and record full-refresh deletions.

    The caller settles pending packages first (``settle_pending``); extract, normalize and load are called one by
    one, because ``pipeline.run`` would silently finish old packages instead of loading new data.
    """
    unknown = set(full_refresh) - {k.key for k in kinds}
    if unknown:
        raise ValueError(f"unknown kind(s) to refresh: {', '.join(sorted(unknown))}")
    run = DownloadRun(loaded_at=now())
    load_ids: list[str] = []
    try:
        with raise_source_errors():
            source = serviceminder_downloads(
                client, kinds=kinds, full_refresh=full_refresh, now=now, run=run, **source_options
            )
            load_ids += extract_normalize_load(pipeline, source)
            if _kinds_awaiting_checks(pipeline):
                detection = serviceminder_downloads(client, kinds=kinds, now=now, run=run, **source_options)
                load_ids += extract_normalize_load(pipeline, detection.with_resources(DELETIONS_RESOURCE))
    finally:
        if run.scheduler is not None:  # a failed run: no page fetched ahead keeps the process waiting
            run.scheduler.stop()
        run.fetcher.shutdown(cancel_futures=True)
    return DownloadResult(outcomes=run.outcomes, loaded_at=run.loaded_at, load_ids=load_ids)


def _kinds_awaiting_checks(pipeline: dlt.Pipeline) -> list[str]:
    """Kinds with a committed full refresh still to detect deletions for, or a first load still to check."""
    kinds_state = pipeline.state.get("sources", {}).get(SOURCE_NAME, {}).get("kinds", {})
    return [key for key, state in kinds_state.items() if state.get("refreshed_at") or state.get("appended_at")]


def extract_normalize_load(pipeline: dlt.Pipeline, source: Any) -> list[str]:
    """Run dlt's three steps on ``source`` (a source or resource); returns the ids of the packages it made."""
    extract_info = pipeline.extract(source, loader_file_format=LOADER_FILE_FORMAT)
    pipeline.normalize()
    with warehouse_kept_open(pipeline):
        pipeline.load()
    return list(extract_info.loads_ids)
