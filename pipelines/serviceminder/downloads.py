"""Bulk downloads: start → poll → fetch → page, with every kind's current page in flight at once.

A download is prepared by serviceminder before it can be fetched, and preparation dominates the time, so the
``DownloadScheduler`` starts the current page of every kind before it waits for any (as serviceminder's own paging
example does), polls them together, and fetches whichever is ready. It is single-threaded and cooperative: each
kind's dlt resource asks ``next_page(kind)``, and while it waits the scheduler moves every other kind along too.
Parsed pages wait in a small per-kind buffer, so memory stays flat however many pages a kind has.

Paging follows the contract (§2): the first request has ``RowId`` 0, the next ``RowId`` is the highest ``Id`` of
the previous file + 1, and a kind is done on a file with no data rows — never because a file was short.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date

import pyarrow as pa

from pipelines.serviceminder.client import ServiceminderClient, ServiceminderError
from pipelines.serviceminder.csv_arrow import CsvReport, TruncatedCsvError, read_csv_batches
from pipelines.serviceminder.kinds import ApiPaths, Kind

log = logging.getLogger(__name__)


class DownloadError(ServiceminderError):
    """A download failed in a way that retrying within this run will not fix."""


class DownloadTimeoutError(DownloadError):
    """serviceminder did not get a download ready within the configured time."""


class DownloadStoppedError(DownloadError):
    """The run stopped the scheduler (it failed or was interrupted elsewhere) while a page was being waited for."""


@dataclass(frozen=True)
class DownloadFilters:
    """Inclusive, whole-day filters in the brand's local time; ``None`` leaves a bound open."""

    created_from: date | None = None
    created_through: date | None = None
    updated_from: date | None = None
    updated_through: date | None = None

    def to_body(self) -> dict[str, str]:
        fields = {
            "CreatedFrom": self.created_from,
            "CreatedThrough": self.created_through,
            "UpdatedFrom": self.updated_from,
            "UpdatedThrough": self.updated_through,
        }
        # the documented spelling is "2022-5-1": no zero padding
        return {name: f"{d.year}-{d.month}-{d.day}" for name, d in fields.items() if d is not None}


@dataclass(frozen=True)
class DownloadSettings:
    max_in_flight: int = 6  # downloads being prepared at once, across kinds
    poll_interval: float = 5.0  # seconds between status rounds while nothing is ready
    ready_timeout: float = 1800.0  # seconds a single download may take to get ready
    max_buffered_pages: int = 2  # parsed pages per kind waiting for dlt to take them
    truncated_refetches: int = 3  # re-fetches of a page whose body was cut off, before starting it anew
    truncated_restarts: int = 2  # new downloads of that page, before giving up
    # called with a DownloadProgress as each download starts, waits, lands a page or finishes (live progress)
    on_progress: Callable[[DownloadProgress], None] | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class DownloadProgress:
    """One step of one kind's chain, for progress displays: ``started``, ``waiting``, ``page`` or ``done``."""

    kind: str
    event: str
    pages: int  # pages fetched so far
    rows: int  # data rows in those pages
    waited: float = 0.0  # ``waiting``: seconds since the current download was started


@dataclass
class Page:
    kind: Kind
    download_id: str
    row_id: int
    batches: list[pa.RecordBatch]
    report: CsvReport

    @property
    def is_empty(self) -> bool:
        """No data rows at all: the contract's only stop signal (a short page is not one)."""
        return self.report.rows == 0 and not self.report.rejected


@dataclass
class _Chain:
    kind: Kind
    filters: DownloadFilters
    next_row_id: int = 0
    download_id: str | None = None
    started_at: float = 0.0
    done: bool = False
    restarts: int = 0
    pages: int = 0
    rows: int = 0
    buffer: deque[Page] = field(default_factory=deque)


class DownloadScheduler:
    """Moves the page chains of several kinds forward together; see the module docstring."""

    def __init__(
        self,
        client: ServiceminderClient,
        paths: ApiPaths,
        plans: Iterable[tuple[Kind, DownloadFilters]],
        *,
        org_level: bool = False,
        user_id: str | None = None,
        settings: DownloadSettings | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._client = client
        self._paths = paths
        self._org_level = org_level
        self._user_id = user_id
        self._settings = settings or DownloadSettings()
        self._clock = clock
        self._sleep = sleep
        self._chains = {kind.key: _Chain(kind, filters) for kind, filters in plans}
        self._stopped = False
        if org_level and not user_id:
            raise DownloadError(
                "organization-level keys need a UserId: set user_id under [sources.serviceminder] "
                "(SOURCES__SERVICEMINDER__USER_ID)"
            )

    def next_page(self, kind_key: str) -> Page | None:
        """The kind's next parsed page, or ``None`` once its last (empty) page has been seen."""
        chain = self._chains[kind_key]
        while not chain.buffer and not chain.done:
            if self._stopped:  # never None: a stopped kind must not look finished, or its watermark would move
                raise DownloadStoppedError(f"the {kind_key} downloads were stopped before their last page")
            self._step()
        return chain.buffer.popleft() if chain.buffer else None

    def stop(self) -> None:
        """Make a ``next_page`` running on another thread give up after its current request or poll wait."""
        self._stopped = True

    # -- one round: start what may start, poll what is in flight, fetch what is ready ------------------------

    def _step(self) -> None:
        self._start_waiting_chains()
        in_flight = [c for c in self._chains.values() if c.download_id is not None]
        fetched_any = False
        for chain in in_flight:
            if self._is_ready(chain):
                self._fetch(chain)
                fetched_any = True
        if in_flight and not fetched_any:
            self._sleep(self._settings.poll_interval)

    def _start_waiting_chains(self) -> None:
        in_flight = sum(1 for c in self._chains.values() if c.download_id is not None)
        for chain in self._chains.values():
            if in_flight >= self._settings.max_in_flight:
                return
            if chain.done or chain.download_id is not None:
                continue
            if len(chain.buffer) >= self._settings.max_buffered_pages:
                continue
            self._start(chain)
            in_flight += 1

    def _start(self, chain: _Chain) -> None:
        body: dict[str, object] = {
            "Kind": chain.kind.token(self._org_level),
            "RowId": chain.next_row_id,
            **chain.filters.to_body(),
        }
        if self._org_level:
            body["UserId"] = self._user_id
        response = self._client.call(self._paths.start_download, body)
        download_id = response.get("DownloadId")
        if download_id in (None, ""):
            raise DownloadError(
                f"serviceminder started a {chain.kind.key} download but returned no DownloadId "
                f"(answer fields: {', '.join(sorted(response))})"
            )
        chain.download_id = str(download_id)
        chain.started_at = self._clock()
        log.info("started %s download %s at RowId %d", chain.kind.key, chain.download_id, chain.next_row_id)
        self._progress(chain, "started")

    def _is_ready(self, chain: _Chain) -> bool:
        response = self._client.call(self._paths.download_status, {"DownloadId": chain.download_id})
        if response.get("Ready") is True or str(response.get("Ready")).lower() == "true":
            return True
        waited = self._clock() - chain.started_at
        if waited > self._settings.ready_timeout:
            raise DownloadTimeoutError(
                f"the {chain.kind.key} download {chain.download_id} was not ready after {waited:.0f} s "
                f"(limit {self._settings.ready_timeout:.0f} s); serviceminder may be busy, so run again later "
                "or raise download_ready_timeout"
            )
        self._progress(chain, "waiting", waited)
        return False

    def _fetch(self, chain: _Chain) -> None:
        assert chain.download_id is not None
        for _ in range(self._settings.truncated_refetches):
            path = self._client.download(self._paths.get_download, {"DownloadId": chain.download_id})
            try:
                report = CsvReport()
                batches = list(read_csv_batches(path, chain.kind, download_id=chain.download_id, report=report))
            except TruncatedCsvError as exc:
                log.warning("%s; fetching it again", exc)
                continue
            except ValueError as exc:  # CsvHeaderError, or a record larger than a read block
                raise DownloadError(
                    f"the {chain.kind.key} download {chain.download_id} cannot be read: {exc}"
                ) from None
            finally:
                path.unlink(missing_ok=True)
            self._accept(chain, Page(chain.kind, chain.download_id, chain.next_row_id, batches, report))
            return
        chain.restarts += 1
        if chain.restarts > self._settings.truncated_restarts:
            raise DownloadError(
                f"every copy of the {chain.kind.key} download at RowId {chain.next_row_id} was cut off "
                f"(last DownloadId {chain.download_id}); nothing of it was loaded, run again later"
            )
        log.warning("the %s download %s kept arriving cut off; starting it anew", chain.kind.key, chain.download_id)
        chain.download_id = None

    def _accept(self, chain: _Chain, page: Page) -> None:
        chain.download_id = None
        chain.restarts = 0
        chain.pages += 1
        chain.rows += page.report.rows
        if page.is_empty:
            chain.done = True
        elif page.report.max_id is None:
            raise DownloadError(
                f"no row of the {chain.kind.key} download {page.download_id} has a readable Id, so the next page "
                f"cannot be asked for; this run loads nothing, so check the file's Id column"
            )
        else:
            chain.next_row_id = page.report.max_id + 1
        chain.buffer.append(page)
        self._progress(chain, "done" if chain.done else "page")

    def _progress(self, chain: _Chain, event: str, waited: float = 0.0) -> None:
        if self._settings.on_progress is not None:
            self._settings.on_progress(DownloadProgress(chain.kind.key, event, chain.pages, chain.rows, waited))
