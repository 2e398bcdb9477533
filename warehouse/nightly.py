"""One nightly run, end to end (``smw run``).

The steps, in order:

1. take the run lock (``lock.py``): a second run exits at once; a lock left by a killed run is taken over;
2. finish or abort dlt load packages an interrupted run left behind (``settle_pending``), on purpose;
3. load the six kinds: incrementally, or whole where the full-refresh policy says so (``plan_full_refresh``);
4. load the feed, and 5. clear it through what is committed (both inside ``load_feed``);
6. build the models and run their data tests: on DuckDB in one transaction, on PostgreSQL the marts and reports
   into side schemas; a blocking test failure keeps the previous marts everywhere;
7. publish (``publish.py``): the read-only DuckDB copy is replaced, or the PostgreSQL side schemas are swapped in;
   the HTML catalog is rewritten;
8. record the run in ``meta.runs`` (``runlog.py``; its row is inserted at step 1 and completed here).

A source error (serviceminder or the network) stops the run at that step: what was committed stays, the feed is
never cleared past what is stored, and the next run carries on. The exit code says what happened (``EXIT_*``).
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import time
from collections.abc import Callable, Collection, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from pipelines.serviceminder.client import ServiceminderClient, ServiceminderError, client_from_config
from pipelines.serviceminder.download_source import SOURCE_NAME
from pipelines.serviceminder.kinds import ALL_KINDS, paths_for
from pipelines.serviceminder.pipeline import utc_now
from warehouse.lock import Holder, LockHeld, acquire, this_process
from warehouse.progress import Reporter
from warehouse.run_config import ConfigError, RunConfig
from warehouse.runlog import RunRecord
from warehouse.target import Connection, Target, TargetError

log = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_FAILED = 1  # an unexpected error, or a model that failed to build; the previous marts were kept
EXIT_USAGE = 2  # bad arguments or settings
EXIT_TESTS_FAILED = 3  # a blocking data test failed; the previous marts were kept (as `smw build`)
EXIT_SOURCE_ERROR = 4  # serviceminder could not be read: key, network, API; the run stopped there
EXIT_ROWS_REJECTED = 5  # everything ran and was published, but some rows could not be parsed
EXIT_LOCKED = 6  # another run holds the lock on this warehouse; this one did nothing
EXIT_INTERRUPTED = 130  # Ctrl-C or SIGTERM

STATUS_BY_EXIT = {
    EXIT_OK: "success",
    EXIT_FAILED: "failed",
    EXIT_USAGE: "failed",
    EXIT_TESTS_FAILED: "tests_failed",
    EXIT_SOURCE_ERROR: "source_error",
    EXIT_ROWS_REJECTED: "rows_rejected",
    EXIT_INTERRUPTED: "interrupted",
}
ALL_KIND_KEYS = tuple(k.key for k in ALL_KINDS)
KEEP_LOADED_PACKAGES = 30  # metadata of the newest loaded packages, kept for `dlt pipeline ... info`
# dlt's own load settings for the nightly job, unless set in .dlt/config.toml: keep no copy of loaded files, and
# empty the raw_staging tables after each merge (a full refresh would otherwise leave a second copy of a table)
DLT_LOAD_DEFAULTS = {"load.delete_completed_jobs": True, "load.truncate_staging_dataset": True}


@dataclass
class RunResult:
    """What ``run_nightly`` did. ``record`` is what went into ``meta.runs`` (None if the lock was held)."""

    exit_code: int
    message: str  # one line: the outcome, or the error and what to do
    record: RunRecord | None = None
    published: Any = None  # publish.Published
    publish_location: str | None = None
    docs_path: str | None = None
    stale_lock: Holder | None = None
    build_problems: list[str] = field(default_factory=list)


class _Stop(Exception):
    """Ends the run early with an exit code and a message."""

    def __init__(self, exit_code: int, message: str) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def apply_dlt_load_defaults() -> None:
    import dlt

    for key, value in DLT_LOAD_DEFAULTS.items():
        if dlt.config.get(key) is None:
            dlt.config[key] = value


def new_run_id(started_at: datetime) -> str:
    return f"{started_at:%Y%m%dT%H%M%SZ}-{secrets.token_hex(2)}"


# -- the full-refresh policy ------------------------------------------------------------------------------------------


def plan_full_refresh(
    kinds_state: Mapping[str, Mapping[str, Any]],
    requested: Mapping[str, str],
    forced: Collection[str] | None,
    today: date,
    every_days: int,
    kinds: Collection[str] = ALL_KIND_KEYS,
) -> dict[str, str]:
    """Which kinds to download whole this run, and why.

    ``forced`` is ``--full-refresh``: None when not given, empty for every kind, else the kinds named. ``requested``
    holds kinds the feed asked for after a purge gap. Otherwise a kind is refreshed on its first load, and when its
    last full refresh is ``every_days`` or more days old (``every_days`` 0: never by schedule).
    """
    plan: dict[str, str] = {}
    for key in kinds:
        state = kinds_state.get(key, {})
        last = state.get("last_full_refresh")
        if forced is not None and (not forced or key in forced):
            plan[key] = "asked for with --full-refresh"
        elif key in requested:
            plan[key] = "the feed lost events to a purge, so deletions may be missing"
        elif not state.get("watermark"):
            plan[key] = "first load"
        elif every_days and not last:
            plan[key] = "no full refresh on record"
        elif every_days and (today - date.fromisoformat(str(last))).days >= every_days:
            plan[key] = f"due: the last one was on {last} (every {every_days} days)"
    return plan


# -- one run ----------------------------------------------------------------------------------------------------------


def run_nightly(
    config: RunConfig,
    *,
    reporter: Reporter,
    full_refresh: Collection[str] | None = None,
    today: date | None = None,
    client: ServiceminderClient | None = None,
    now: Callable[[], datetime] = utc_now,
    clock: Callable[[], float] = time.perf_counter,
    scheduler_clock: Callable[[], float] | None = None,
    sleep: Callable[[float], None] | None = None,
) -> RunResult:
    """Run the eight steps (module docstring) against ``config.target``; never raises for what it can explain.

    ``client``, ``scheduler_clock`` and ``sleep`` are for tests (a client on the sandbox, a fake clock).
    """
    unknown = set(full_refresh or ()) - set(ALL_KIND_KEYS)
    if unknown:
        return RunResult(
            EXIT_USAGE, f"unknown kind(s) {', '.join(sorted(unknown))}; use some of {', '.join(ALL_KIND_KEYS)}"
        )
    started = now()
    run_id = new_run_id(started)
    target = config.target
    try:
        lock = acquire(target, this_process(run_id, started), lock_path=config.lock_path)
    except LockHeld as exc:
        reporter.event("%s", str(exc), level=logging.ERROR, event="lock_held")
        return RunResult(EXIT_LOCKED, str(exc))
    except TargetError as exc:
        return RunResult(EXIT_FAILED, str(exc))
    except Exception as exc:  # noqa: BLE001 - e.g. no right to create meta.run_lock on PostgreSQL
        return RunResult(EXIT_FAILED, f"could not take the run lock on {target.redacted}: {_first_line(exc)}")
    record = RunRecord(run_id, started, socket.gethostname(), os.getpid())
    run = _Run(config, reporter, record, now, clock, scheduler_clock, sleep)
    result = RunResult(EXIT_FAILED, "", record, stale_lock=lock.stale)
    try:
        reporter.event(
            "run %s started on %s",
            run_id,
            target.redacted,
            event="run_started",
            run_id=run_id,
            warehouse=target.redacted,
        )
        if lock.stale:
            message = f"took over a stale lock: {lock.stale.describe()} did not finish (killed?)"
            reporter.event("%s", message, level=logging.WARNING, event="stale_lock", stale_run_id=lock.stale.run_id)
            record.warnings.append(message)
        result = run.execute(full_refresh, today or date.today(), client)
        result.stale_lock = lock.stale
    except KeyboardInterrupt:
        result.exit_code, result.message = EXIT_INTERRUPTED, "interrupted; the next run carries on from what committed"
    finally:
        record.exit_code = result.exit_code
        record.status = STATUS_BY_EXIT.get(result.exit_code, "failed")
        if result.exit_code != EXIT_OK and not record.error and result.exit_code != EXIT_ROWS_REJECTED:
            record.error = result.message
        record.finished_at = now()
        try:
            run.write_record()
        except Exception as exc:  # noqa: BLE001 - the outcome stands; say that it could not be written down
            reporter.event("could not record the run in meta.runs: %s", exc, level=logging.ERROR, event="runlog_error")
        finally:
            lock.release()
    return result


class _Run:
    def __init__(
        self,
        config: RunConfig,
        reporter: Reporter,
        record: RunRecord,
        now: Callable[[], datetime],
        clock: Callable[[], float],
        scheduler_clock: Callable[[], float] | None,
        sleep: Callable[[float], None] | None,
    ) -> None:
        self.config = config
        self.target: Target = config.target
        self.reporter = reporter
        self.record = record
        self.now = now
        self.clock = clock
        self.scheduler_clock = scheduler_clock
        self.sleep = sleep

    # -- bookkeeping ------------------------------------------------------------------------------------------------

    @contextmanager
    def step(self, name: str, text: str) -> Iterator[None]:
        self.reporter.step(name, text)
        started = self.clock()
        try:
            yield
        finally:
            self.record.step_seconds[name] = self.record.step_seconds.get(name, 0.0) + self.clock() - started

    @contextmanager
    def connection(self) -> Iterator[Connection]:
        # opened per step: on DuckDB, dlt needs the file to itself while it loads
        conn = _connect(self.target, self.sleep or time.sleep)
        try:
            yield conn
        finally:
            conn.close()

    def begin(self) -> None:
        from warehouse import runlog

        with self.connection() as conn:
            runlog.ensure_table(conn)
            runlog.start(conn, self.record)
            for run_id in runlog.mark_abandoned(conn, self.record.run_id, self.now()):
                self.reporter.event(
                    "run %s died without recording its end; marked abandoned in meta.runs",
                    run_id,
                    level=logging.WARNING,
                    event="abandoned_run",
                    abandoned_run_id=run_id,
                )

    def write_record(self) -> None:
        from warehouse import runlog

        with self.connection() as conn:
            runlog.finish(conn, self.record)

    # -- the steps --------------------------------------------------------------------------------------------------

    def execute(self, forced: Collection[str] | None, today: date, client: ServiceminderClient | None) -> RunResult:
        try:
            self.begin()
            return self._execute(forced, today, client)
        except _Stop as stop:
            self.reporter.event("%s", str(stop), level=logging.ERROR, event="run_stopped", exit_code=stop.exit_code)
            return RunResult(stop.exit_code, str(stop), self.record)
        except (ConfigError, TargetError) as exc:
            self.reporter.event("%s", str(exc), level=logging.ERROR, event="run_stopped", exit_code=EXIT_FAILED)
            return RunResult(EXIT_FAILED, str(exc), self.record)
        except Exception as exc:
            if _caused_by(exc, KeyboardInterrupt):  # dlt wraps what interrupts its steps
                raise KeyboardInterrupt from None
            log.exception("the run failed unexpectedly")
            message = (
                f"the run failed unexpectedly ({type(exc).__name__}: {_first_line(exc)}); the previous marts were kept"
            )
            return RunResult(EXIT_FAILED, message, self.record)

    def _execute(self, forced: Collection[str] | None, today: date, client: ServiceminderClient | None) -> RunResult:
        from pipelines.serviceminder.pipeline import make_pipeline, settle_pending

        config, record = self.config, self.record
        with self.step("pending", "checking for load packages an interrupted run left behind"):
            pipeline = make_pipeline(dlt_destination(self.target), pipelines_dir=config.pipelines_dir)
            pipeline, settled = settle_pending(pipeline)
            if settled == "finished":
                self.reporter.event("loaded the load packages an interrupted run left behind", event="pending_finished")
            elif settled == "aborted":
                message = (
                    "load packages an interrupted run left behind could not be loaded and were dropped; the state "
                    "was restored from the warehouse, so their data is downloaded again"
                )
                self.reporter.event("%s", message, level=logging.WARNING, event="pending_aborted")
                record.warnings.append(message)
            if not pipeline.has_pending_data:
                pipeline.sync_destination()  # the local working folder may be new or behind the warehouse

        owns_client = client is None
        if client is None:
            try:
                client = client_from_config(
                    retry=config.retry, timeout=config.timeout, download_dir=_download_dir(config)
                )
            except ServiceminderError as exc:
                raise _Stop(EXIT_SOURCE_ERROR, str(exc)) from None
        try:
            downloads = self._downloads(pipeline, client, forced, today)
            self._feed(pipeline, client)
        finally:
            if owns_client:
                client.close()
        build, project, side = self._build(pipeline)
        if not build.ok:
            return self._build_failed(build)
        published, location = self._publish(project, side)
        docs = self._docs(project)
        self._prune(pipeline)
        rejected = downloads.rejected
        code = EXIT_ROWS_REJECTED if rejected else EXIT_OK
        if rejected:
            kinds = ", ".join(f"{k} {o.rejected}" for k, o in downloads.outcomes.items() if o.rejected)
            message = (
                f"{rejected} row(s) could not be parsed and were not loaded ({kinds}): see raw.rejected_rows; "
                "everything else was loaded and published"
            )
            self.reporter.event("%s", message, level=logging.WARNING, event="rows_rejected", rejected=rejected)
        else:
            message = "loaded, built, tested and published"
        return RunResult(code, message, record, published, location, docs)

    def _downloads(
        self, pipeline: Any, client: ServiceminderClient, forced: Collection[str] | None, today: date
    ) -> Any:
        from pipelines.serviceminder.download_source import run_downloads
        from pipelines.serviceminder.downloads import DownloadError
        from pipelines.serviceminder.feed import acknowledge_full_refresh, full_refresh_reasons

        config, record = self.config, self.record
        kinds_state = pipeline.state.get("sources", {}).get(SOURCE_NAME, {}).get("kinds", {})
        requested = full_refresh_reasons(pipeline)
        plan = plan_full_refresh(kinds_state, requested, forced, today, config.full_refresh_days)
        record.full_refresh = plan
        for reason, kinds in _group(plan).items():
            self.reporter.event(
                "full refresh of %s: %s", ", ".join(kinds), reason, event="full_refresh", kinds=kinds, reason=reason
            )
        self.reporter.start_downloads(list(ALL_KIND_KEYS))
        options: dict[str, Any] = {}
        if self.scheduler_clock is not None:
            options["clock"] = self.scheduler_clock
        if self.sleep is not None:
            options["sleep"] = self.sleep
        settings = replace(config.downloads, on_progress=self.reporter.download)
        try:
            with self.step("downloads", "downloading the six kinds from serviceminder"):
                result = run_downloads(
                    pipeline,
                    client,
                    kinds=config.kinds,
                    full_refresh=set(plan),
                    today=today,
                    overlap_days=config.overlap_days,
                    org_level=config.org_level,
                    user_id=config.user_id,
                    path_overrides=config.path_overrides or None,
                    settings=settings,
                    **options,
                )
        except (ServiceminderError, DownloadError) as exc:
            raise _Stop(EXIT_SOURCE_ERROR, f"downloading from serviceminder failed: {exc}") from None
        finally:
            self.reporter.finish_downloads()
        kinds = {k.key: k for k in ALL_KINDS}
        for key, outcome in result.outcomes.items():
            record.rows_loaded[kinds[key].table] = outcome.rows
            if outcome.missing_columns:
                record.warnings.append(
                    f"the {key} download has no column(s) {', '.join(outcome.missing_columns)}; loaded as NULL"
                )
        record.rejected_rows += result.rejected
        record.deletions_found += result.deletions
        if result.rejected:
            record.rows_loaded["rejected_rows"] = result.rejected
        total = sum(o.rows for o in result.outcomes.values())
        self.reporter.event(
            "downloads: %s rows in %d kinds (%s), %d deletion(s) found by full refresh, %d rejected",
            f"{total:,}",
            len(result.outcomes),
            ", ".join(f"{k} {o.rows:,}" + (" full" if o.mode == "full" else "") for k, o in result.outcomes.items()),
            result.deletions,
            result.rejected,
            event="downloads_done",
            rows={k: o.rows for k, o in result.outcomes.items()},
            modes={k: o.mode for k, o in result.outcomes.items()},
            deletions=result.deletions,
            rejected=result.rejected,
        )
        refreshed = {k for k, o in result.outcomes.items() if o.mode == "full"}
        if refreshed & set(requested):
            acknowledge_full_refresh(pipeline, refreshed & set(requested))
        return result

    def _feed(self, pipeline: Any, client: ServiceminderClient) -> Any:
        from pipelines.serviceminder.feed import FeedError, FeedLoadError, load_feed

        config, record = self.config, self.record
        paths = paths_for(False, config.path_overrides) if config.path_overrides and not config.org_level else None
        try:
            with self.step("feed", "loading the event feed, then clearing what is stored"):
                feed = load_feed(
                    pipeline,
                    client,
                    event_count=config.event_count,
                    max_events=config.max_events,
                    org_level=config.org_level,
                    paths=paths,
                )
        except FeedLoadError as exc:  # the warehouse side: nothing was cleared
            raise _Stop(EXIT_FAILED, f"storing the event feed failed: {exc}") from None
        except (FeedError, ServiceminderError) as exc:
            raise _Stop(EXIT_SOURCE_ERROR, f"the event feed failed: {exc}") from None
        if feed.skipped:
            self.reporter.event("organization-level key: no event feed to load", event="feed_skipped")
            return feed
        new_events = feed.events_loaded - feed.redelivered
        record.feed_events += new_events
        record.deletions_found += feed.deletions
        record.rows_loaded["feed_events"] = new_events
        record.rows_loaded["deletions"] = record.deletions_found
        record.warnings.extend(feed.warnings)
        if feed.events_loaded:
            text = (
                f"feed: {new_events} new event(s), {feed.deletions} deletion(s), cleared through {feed.cleared_through}"
            )
            text += f", {feed.redelivered} re-delivered" if feed.redelivered else ""
        else:
            text = "feed: no new events"
        self.reporter.event(
            "%s",
            text,
            event="feed_done",
            events=new_events,
            redelivered=feed.redelivered,
            deletions=feed.deletions,
            cleared_through=feed.cleared_through,
            gaps=len(feed.gaps),
        )
        return feed

    def _build(self, pipeline: Any) -> tuple[Any, Any, Any]:
        from warehouse.build import build_models
        from warehouse.models import ProjectError, load_project
        from warehouse.publish import prepare_side_schemas, side_project
        from warehouse.raw_tables import ensure_tables

        config, record = self.config, self.record
        try:
            project = load_project(config.models_dir)
        except ProjectError as exc:
            raise _Stop(EXIT_FAILED, f"the SQL models have problems; the previous marts were kept. {exc}") from None
        with self.step("build", f"building {len(project.models)} models and running their data tests"):
            created = ensure_tables(pipeline, project.raw_sources)
            if created:
                self.reporter.event(
                    "created empty raw table(s) %s: no data for them yet",
                    ", ".join(created),
                    event="empty_raw_tables",
                    tables=created,
                )
            total = len(project.models)
            done = iter(range(1, total + 1))

            def progress(result: Any) -> None:
                from warehouse.publish import live_name

                index = next(done)
                name = live_name(result.model)
                self.reporter.status_line(f"building models {index}/{total}: {name}")
                level = logging.DEBUG if result.status == "success" else logging.WARNING
                self.reporter.event(
                    "model %s: %s",
                    name,
                    result.status,
                    level=level,
                    event="model",
                    model=name,
                    status=result.status,
                    seconds=round(result.seconds, 3),
                    rows=result.rows,
                )

            with self.connection() as conn:
                if self.target.dialect == "postgres":
                    prepare_side_schemas(conn)
                    side = side_project(project)
                    build = build_models(conn, side, progress=progress, clock=self.clock)
                else:
                    side = None
                    build = build_models(conn, project, atomic="run", progress=progress, clock=self.clock)
        record.models_built = len(build.by_status("success"))
        for model in build.models:
            for test in model.warned_tests:
                record.warnings.append(_live(test.message))
        return build, project, side

    def _build_failed(self, build: Any) -> RunResult:
        from warehouse.build import EXIT_TESTS_FAILED as BUILD_TESTS_FAILED
        from warehouse.publish import discard_side_schemas

        if self.target.dialect == "postgres":
            with self.connection() as conn:
                discard_side_schemas(conn)
        problem = _live(build.first_problem() or "the build failed")
        problems = [_live(m.error or "") for m in build.models if m.status in ("error", "test_failed")]
        if build.exit_code == BUILD_TESTS_FAILED:
            message = (
                f"a blocking data test failed, so nothing was published and the previous marts were kept: {problem}"
            )
            code = EXIT_TESTS_FAILED
        else:
            message = f"a model failed to build, so nothing was published and the previous marts were kept: {problem}"
            code = EXIT_FAILED
        self.reporter.event("%s", message, level=logging.ERROR, event="build_failed", problems=problems)
        return RunResult(code, message, self.record, build_problems=problems)

    def _publish(self, project: Any, side: Any) -> tuple[Any, str]:
        from warehouse.publish import PublishError, discard_side_schemas, publish_duckdb, swap_schemas

        config = self.config
        with self.step("publish", "publishing the new marts"), self.connection() as conn:
            try:
                if self.target.dialect == "duckdb":
                    assert config.publish_path is not None
                    published = publish_duckdb(conn, config.publish_path)
                else:
                    token = self.record.run_id.rsplit("-", 1)[-1]
                    published = swap_schemas(conn, side, token=token, wait_seconds=config.publish_wait)
            except PublishError as exc:
                if self.target.dialect == "postgres":
                    discard_side_schemas(conn)  # a full copy of the marts that nothing will read
                raise _Stop(EXIT_FAILED, str(exc)) from None
        self.record.published_at = self.now()
        self.reporter.event(
            "published %d tables to %s",
            len(published.tables),
            published.location,
            event="published",
            location=published.location,
            tables=published.tables,
        )
        return published, published.location

    def _prune(self, pipeline: Any) -> None:
        """Forget all but the newest loaded packages, so dlt's working folder does not grow night after night."""
        try:
            loaded = sorted(pipeline.list_completed_load_packages())
            storage = pipeline._get_load_storage()  # dlt has no public call to delete loaded packages
            for load_id in loaded[:-KEEP_LOADED_PACKAGES]:
                storage.delete_loaded_package(load_id)
        except Exception as exc:  # noqa: BLE001 - housekeeping must never fail a run
            self.reporter.event("could not prune old load packages: %s", exc, level=logging.WARNING, event="prune")

    def _docs(self, project: Any) -> str | None:
        from warehouse.docs import write_catalog

        try:
            path = write_catalog(project, self.config.docs_dir)
        except OSError as exc:
            message = f"could not write the model catalog to {self.config.docs_dir}: {exc}"
            self.reporter.event("%s", message, level=logging.WARNING, event="docs_failed")
            self.record.warnings.append(message)
            return None
        return str(path)


def _connect(target: Target, sleep: Callable[[float], None], attempts: int = 40) -> Connection:
    """Open the warehouse; on DuckDB, wait out a reader that has the file open for a moment (e.g. `smw status`)."""
    for attempt in range(attempts):
        try:
            return target.connect()
        except TargetError as exc:
            if target.dialect != "duckdb" or "lock" not in str(exc).lower() or attempt == attempts - 1:
                raise
            sleep(0.25)
    raise AssertionError("unreachable")


def _group(plan: Mapping[str, str]) -> dict[str, list[str]]:
    """{kind: reason} -> {reason: [kinds]}, for one line per reason."""
    out: dict[str, list[str]] = {}
    for kind, reason in plan.items():
        out.setdefault(reason, []).append(kind)
    return out


def _live(text: str) -> str:
    from warehouse.publish import live_name

    return live_name(text)


def _download_dir(config: RunConfig) -> Any:
    folder = config.pipelines_dir / "downloads"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def dlt_destination(target: Target) -> Any:
    """The dlt destination; dlt's PostgreSQL credentials need a password even where the server asks for none."""
    import dlt

    if target.dialect == "postgres":
        parts = urlsplit(target.url)
        if parts.password is None and parts.hostname:
            user = parts.username or "postgres"
            port = f":{parts.port}" if parts.port else ""
            netloc = f"{user}:unused@{parts.hostname}{port}"
            return dlt.destinations.postgres(urlunsplit(parts._replace(netloc=netloc)))
    return target.dlt_destination()


def _caused_by(exc: BaseException, kind: type[BaseException]) -> bool:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, kind) or isinstance(getattr(current, "exception", None), kind):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
