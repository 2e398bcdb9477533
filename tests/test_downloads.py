"""The download source end to end: sandbox over loopback → dlt → real DuckDB and PostgreSQL raw tables."""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import dlt
import duckdb
import pyarrow as pa
import pytest
from adbc_driver_manager import dbapi

from pipelines.sandbox import Faults, Sandbox
from pipelines.serviceminder.client import AuthenticationError, RetryPolicy, ServiceminderClient
from pipelines.serviceminder.download_source import DownloadResult, run_downloads
from pipelines.serviceminder.downloads import (
    DownloadError,
    DownloadFilters,
    DownloadScheduler,
    DownloadSettings,
    DownloadStoppedError,
    DownloadTimeoutError,
)
from pipelines.serviceminder.kinds import ALL_KINDS, APPOINTMENTS, BRAND_PATHS, CONTACTS, KINDS_BY_KEY
from pipelines.serviceminder.pipeline import settle_pending, warehouse_kept_open
from tests.fakes import FakeClock
from tests.warehouses import TestWarehouse, make_test_warehouse

KEY = "dl-test-key-5521ab"
TODAY = date(2026, 11, 2)
SETTINGS = DownloadSettings(poll_interval=1.0, ready_timeout=600.0)


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(api_key=KEY, seed=11, appointments=600, today=TODAY, page_size=500) as sb:
        yield sb


def client_for(sandbox: Sandbox, clock: FakeClock, key: str = KEY, tmp: Path | None = None) -> ServiceminderClient:
    return ServiceminderClient(
        key,
        sandbox.base_url,
        sleep=clock.sleep,
        rng=random.Random(0),
        retry=RetryPolicy(max_attempts=8),
        download_dir=tmp,
    )


def load(
    warehouse: TestWarehouse, sandbox: Sandbox, clock: FakeClock, pipeline: dlt.Pipeline | None = None, **kw: Any
) -> DownloadResult:
    pipeline = pipeline or warehouse.pipeline()
    pipeline, _ = settle_pending(pipeline)
    kw.setdefault("settings", SETTINGS)
    with client_for(sandbox, clock) as client:
        return run_downloads(pipeline, client, today=sandbox.today, clock=clock.now, sleep=clock.sleep, **kw)


def assert_raw_equals_truth(warehouse: TestWarehouse, sandbox: Sandbox, *, live_only: bool = False) -> None:
    truth = sandbox.truth()
    for kind in ALL_KINDS:
        stored = warehouse.live_records(kind) if live_only else warehouse.records(kind)
        expected = truth.live[kind.key]
        assert set(stored) == set(expected), f"{kind.key}: ids differ"
        for record_id, record in expected.items():
            assert stored[record_id] == record, f"{kind.key} {record_id}"


def count_duplicates(warehouse: TestWarehouse) -> int:
    total = 0
    for kind in ALL_KINDS:
        if warehouse.table_exists("raw", kind.table):
            (dupes,) = warehouse.query(f"select count(*) - count(distinct id) from raw.{kind.table}")[0]
            total += dupes
    return total


def test_first_run_loads_every_kind_exactly(warehouse: TestWarehouse, sandbox: Sandbox, fake_clock: FakeClock) -> None:
    result = load(warehouse, sandbox, fake_clock)
    assert {o.mode for o in result.outcomes.values()} == {"full"}
    assert_raw_equals_truth(warehouse, sandbox)
    assert result.outcomes["appointments"].pages >= 3  # 600 appointments in pages of 500, plus the empty page
    assert result.rejected == 0


def test_incremental_then_full_refresh_match_the_truth(
    warehouse: TestWarehouse, sandbox: Sandbox, fake_clock: FakeClock
) -> None:
    load(warehouse, sandbox, fake_clock)
    loaded_before = {k.key: set(warehouse.records(k)) for k in ALL_KINDS}
    sandbox.advance_days(3)

    result = load(warehouse, sandbox, fake_clock)
    assert {o.mode for o in result.outcomes.values()} == {"incremental"}
    starts = [body for path, body in sandbox.requests if path.endswith("startdownload")]
    assert starts[-1]["UpdatedFrom"] == "2026-10-31"  # watermark (first run's today) minus the 2-day overlap
    truth = sandbox.truth()
    for kind in ALL_KINDS:
        stored = warehouse.records(kind)
        # hard deletes leave no trace in an updated-filtered download: exactly those are still in raw
        hard_deleted = truth.deleted_ids(kind.key) & loaded_before[kind.key]
        assert set(stored) == set(truth.live[kind.key]) | hard_deleted, kind.key
        for record_id, record in truth.live[kind.key].items():
            assert stored[record_id] == record, f"{kind.key} {record_id}"

    result = load(warehouse, sandbox, fake_clock, full_refresh={k.key for k in ALL_KINDS})
    assert_raw_equals_truth(warehouse, sandbox, live_only=True)
    expected_deletions = {
        (kind.entity_type, i) for kind in ALL_KINDS for i in truth.deleted_ids(kind.key) & loaded_before[kind.key]
    }
    assert expected_deletions, "the sandbox should have deleted something in three days"
    assert warehouse.deletions("full_refresh") == expected_deletions
    assert result.deletions == len(expected_deletions)
    assert count_duplicates(warehouse) == 0

    # a second refresh finds nothing new and changes nothing
    again = load(warehouse, sandbox, fake_clock, full_refresh={"appointments"})
    assert again.deletions == 0
    assert warehouse.deletions("full_refresh") == expected_deletions


def test_all_six_kinds_are_started_before_any_is_awaited(sandbox: Sandbox, duckdb_warehouse, fake_clock) -> None:
    sandbox.prep_delay = 30.0
    sandbox._clock = fake_clock.now  # readiness follows the same fake clock the loader sleeps on
    load(duckdb_warehouse, sandbox, fake_clock)
    paths = [path for path, _ in sandbox.requests]
    first_status = next(i for i, p in enumerate(paths) if p.endswith("downloadstatus"))
    assert sum(1 for p in paths[:first_status] if p.endswith("startdownload")) == len(ALL_KINDS)
    # the whole load took about one kind's chain of waits (appointments: 3 pages), not the sum over kinds
    assert sum(fake_clock.slept) <= 4 * 31


def test_paging_follows_rowid_and_stops_only_on_an_empty_file(sandbox: Sandbox, duckdb_warehouse, fake_clock) -> None:
    load(duckdb_warehouse, sandbox, fake_clock, kinds=[APPOINTMENTS])
    ids = sorted(sandbox.truth().live["appointments"])
    row_ids = [body["RowId"] for path, body in sandbox.requests if path.endswith("startdownload")]
    assert row_ids == [0, ids[499] + 1, ids[-1] + 1]  # 600 rows: a full page, a short page, an empty page


def test_a_stopped_scheduler_never_reports_a_kind_as_finished(sandbox: Sandbox, fake_clock) -> None:
    # a run that failed elsewhere stops the scheduler; the page being fetched ahead must not end its kind "done"
    sandbox.prep_delay = 30.0
    sandbox._clock = fake_clock.now
    with client_for(sandbox, fake_clock) as client:
        scheduler = DownloadScheduler(
            client, BRAND_PATHS, [(APPOINTMENTS, DownloadFilters())], clock=fake_clock.now, sleep=fake_clock.sleep
        )
        first = scheduler.next_page(APPOINTMENTS.key)
        assert first is not None and first.report.rows == 500
        scheduler.stop()
        with pytest.raises(DownloadStoppedError, match="appointments downloads were stopped"):
            scheduler.next_page(APPOINTMENTS.key)


def test_a_bad_key_fails_fast_and_loads_nothing(duckdb_warehouse, sandbox: Sandbox, fake_clock) -> None:
    pipeline = duckdb_warehouse.pipeline()
    with (
        client_for(sandbox, fake_clock, key="not-the-key-123") as client,
        pytest.raises(AuthenticationError, match="SOURCES__SERVICEMINDER__API_KEY"),
    ):
        run_downloads(pipeline, client, today=sandbox.today, settings=SETTINGS)
    assert fake_clock.slept == []
    assert not any(duckdb_warehouse.table_exists("raw", k.table) for k in ALL_KINDS)
    assert not pipeline.has_pending_data


def test_a_download_that_never_gets_ready_times_out_naming_kind_and_id(
    duckdb_warehouse, sandbox: Sandbox, fake_clock
) -> None:
    sandbox.prep_delay = 10_000.0
    sandbox._clock = fake_clock.now
    with pytest.raises(DownloadTimeoutError) as err:
        load(duckdb_warehouse, sandbox, fake_clock, kinds=[CONTACTS], settings=DownloadSettings(ready_timeout=120))
    started = [p for p, _ in sandbox.requests if p.endswith("startdownload")]
    assert len(started) == 1
    assert "contacts download" in str(err.value)
    assert "not ready after" in str(err.value)
    assert not duckdb_warehouse.table_exists("raw", "contacts")


def test_injected_faults_at_a_realistic_rate_still_end_correct(
    warehouse: TestWarehouse, sandbox: Sandbox, fake_clock: FakeClock
) -> None:
    sandbox.faults = Faults(rate_429=0.05, rate_5xx=0.05, rate_drop=0.03, rate_truncate=0.2, slow_ready_polls=2, seed=4)
    load(warehouse, sandbox, fake_clock)
    sandbox.advance_days(2)
    load(warehouse, sandbox, fake_clock, full_refresh={k.key for k in ALL_KINDS})
    assert sandbox.fault_log, "faults were injected"
    assert any(outcome == "truncate" for _, outcome in sandbox.fault_log)
    assert_raw_equals_truth(warehouse, sandbox, live_only=True)
    assert count_duplicates(warehouse) == 0


def test_malformed_rows_land_in_rejected_rows(warehouse: TestWarehouse, sandbox: Sandbox, fake_clock) -> None:
    ids = sorted(sandbox.truth().live["appointments"])
    bad = {ids[3], ids[250], ids[-1]}
    sandbox.malformed["appointments"] = bad
    result = load(warehouse, sandbox, fake_clock)
    assert result.outcomes["appointments"].rejected == 3
    assert result.rejected == 3
    rows = warehouse.query("select kind, download_id, line_number, raw_line, reason from raw.rejected_rows")
    assert len(rows) == 3
    for kind, download_id, line_number, raw_line, reason in rows:
        assert kind == "appointments"
        assert download_id and line_number >= 2 and reason
        assert any(str(i) in raw_line for i in bad)
    stored = warehouse.records(APPOINTMENTS)
    assert not bad & set(stored)
    assert len(stored) == len(ids) - 3


def test_missing_and_extra_columns(duckdb_warehouse, sandbox: Sandbox, fake_clock, caplog) -> None:
    sandbox.missing_columns["contacts"] = {"tags"}
    sandbox.extra_columns["contacts"] = {"Franchise Region": "North"}
    result = load(duckdb_warehouse, sandbox, fake_clock, kinds=[CONTACTS])
    assert result.outcomes["contacts"].missing_columns == ["tags"]
    assert caplog.text.count("no column(s) tags") == 1  # reported once per run, not once per page
    tags, regions = zip(*duckdb_warehouse.query("select tags, franchise_region from raw.contacts"), strict=True)
    assert set(tags) == {None}
    assert set(regions) == {"North"}


def test_a_file_without_an_id_column_fails_naming_the_kind(duckdb_warehouse, sandbox: Sandbox, fake_clock) -> None:
    sandbox.missing_columns["payments"] = {"id"}
    with pytest.raises(DownloadError, match="payments download .* cannot be read"):
        load(duckdb_warehouse, sandbox, fake_clock, kinds=[KINDS_BY_KEY["payments"]])
    assert not duckdb_warehouse.table_exists("raw", "payments")


def test_an_org_level_key_without_a_user_id_is_refused_before_any_call(duckdb_warehouse, fake_clock) -> None:
    with Sandbox(api_key=KEY, seed=11, appointments=100, today=TODAY) as sandbox:
        with (
            ServiceminderClient("org-key-1234", sandbox.base_url, sleep=fake_clock.sleep) as client,
            pytest.raises(DownloadError, match="SOURCES__SERVICEMINDER__USER_ID"),
        ):
            run_downloads(duckdb_warehouse.pipeline(), client, today=TODAY, org_level=True, settings=SETTINGS)
        assert sandbox.requests == []


def test_org_level_keys_use_download_paths_and_see_one_organization(duckdb_warehouse, fake_clock, tmp_path) -> None:
    with Sandbox(api_key=KEY, seed=11, appointments=300, today=TODAY) as brand_sandbox:
        org_id = brand_sandbox.brand.organizations[0][0]
    with Sandbox(api_key=KEY, seed=11, appointments=300, today=TODAY, org_keys={"org-key-991": org_id}) as sandbox:
        pipeline = duckdb_warehouse.pipeline()
        with ServiceminderClient("org-key-991", sandbox.base_url, sleep=fake_clock.sleep) as client:
            run_downloads(
                pipeline, client, today=TODAY, org_level=True, user_id="42", kinds=[APPOINTMENTS], settings=SETTINGS
            )
        starts = [(p, b) for p, b in sandbox.requests if p.endswith("startdownload")]
        assert all(p.endswith("download/startdownload") and not p.startswith("datasubscriber") for p, _ in starts)
        assert {b["Kind"] for _, b in starts} == {"appointments"}
        assert {b["UserId"] for _, b in starts} == {"42"}
        expected = {i for i, r in sandbox.truth().live["appointments"].items() if r["organization_id"] == org_id}
    assert set(duckdb_warehouse.records(APPOINTMENTS)) == expected


def test_the_api_key_is_in_no_table_and_no_working_file(warehouse: TestWarehouse, sandbox: Sandbox, fake_clock) -> None:
    sandbox.malformed["contacts"] = {sorted(sandbox.truth().live["contacts"])[0]}
    load(warehouse, sandbox, fake_clock)
    assert KEY not in warehouse.all_text()
    for path in warehouse.pipelines_dir.rglob("*"):
        if path.is_file():
            assert KEY.encode() not in path.read_bytes(), path


class Crash(Exception):
    pass


@pytest.mark.parametrize("stage", ["download", "normalize", "load"])
def test_a_run_killed_at_any_stage_ends_correct_after_a_rerun(
    warehouse: TestWarehouse, sandbox: Sandbox, fake_clock: FakeClock, stage: str, monkeypatch
) -> None:
    load(warehouse, sandbox, fake_clock)
    sandbox.advance_days(2)
    pipeline = warehouse.pipeline()
    if stage == "download":
        from pipelines.serviceminder import downloads

        original = downloads.DownloadScheduler._accept
        calls = {"n": 0}

        def crash_midway(self, chain, page):
            calls["n"] += 1
            if calls["n"] == 4:
                raise Crash("killed while downloading")
            return original(self, chain, page)

        monkeypatch.setattr(downloads.DownloadScheduler, "_accept", crash_midway)
    else:
        original_step = getattr(dlt.Pipeline, stage)

        def crash(self, *args, **kwargs):
            raise Crash(f"killed during {stage}")

        monkeypatch.setattr(dlt.Pipeline, stage, crash)
    with pytest.raises(Exception, match="killed"):
        load(warehouse, sandbox, fake_clock, pipeline=pipeline, full_refresh={"contacts"})
    monkeypatch.undo()
    if stage != "download":
        assert getattr(dlt.Pipeline, stage) is original_step

    # the next night: a new process, the same working folder
    load(warehouse, sandbox, fake_clock)
    load(warehouse, sandbox, fake_clock, full_refresh={k.key for k in ALL_KINDS})
    assert_raw_equals_truth(warehouse, sandbox, live_only=True)
    assert count_duplicates(warehouse) == 0


def test_pending_packages_are_finished_before_new_data(duckdb_warehouse, sandbox: Sandbox, fake_clock) -> None:
    pipeline = duckdb_warehouse.pipeline()
    with client_for(sandbox, fake_clock) as client:
        from pipelines.serviceminder.download_source import serviceminder_downloads

        pipeline.extract(
            serviceminder_downloads(client, today=sandbox.today, clock=fake_clock.now, sleep=fake_clock.sleep)
        )
    assert pipeline.has_pending_data
    pipeline, outcome = settle_pending(duckdb_warehouse.pipeline())
    assert outcome == "finished"
    assert not pipeline.has_pending_data
    assert_raw_equals_truth(duckdb_warehouse, sandbox)
    # its watermarks were committed with it: the next run is incremental
    result = load(duckdb_warehouse, sandbox, fake_clock, pipeline=pipeline)
    assert {o.mode for o in result.outcomes.values()} == {"incremental"}


def test_a_duckdb_warehouse_is_opened_once_for_a_load_and_checkpointed_when_it_ends(
    duckdb_warehouse, sandbox: Sandbox, fake_clock
) -> None:
    load(duckdb_warehouse, sandbox, fake_clock, kinds=[CONTACTS])
    wal = Path(f"{duckdb_warehouse.location}.wal")
    assert not wal.exists()  # the load's changes were checkpointed when its last connection closed
    pipeline = duckdb_warehouse.pipeline()
    with warehouse_kept_open(pipeline):
        with pipeline.sql_client() as client:  # as each dlt load job does
            client.execute_sql("create table raw.held_open (x integer)")
        # that connection's close left the database open, so its change waits in the log, not checkpointed
        assert wal.exists()
    assert not wal.exists()
    assert duckdb_warehouse.table_exists("raw", "held_open")


def test_typed_columns_in_the_warehouse(warehouse: TestWarehouse, sandbox: Sandbox, fake_clock) -> None:
    load(warehouse, sandbox, fake_clock, kinds=[KINDS_BY_KEY["invoices"], CONTACTS])
    types = dict(
        warehouse.query(
            "select column_name, data_type from information_schema.columns"
            " where table_schema = 'raw' and table_name = 'invoices'"
        )
    )
    assert types["id"].lower() == "bigint"
    assert types["total"].lower() in {"decimal(18,2)", "numeric"}
    assert types["invoice_date"].lower() == "date"
    assert types["created_at"].lower() in {"timestamp", "timestamp without time zone"}
    phone_types = warehouse.query(
        "select data_type from information_schema.columns where table_schema = 'raw'"
        " and table_name = 'contacts' and column_name in ('postal_code', 'primary_phone')"
    )
    assert {t.lower() for (t,) in phone_types} <= {"varchar", "text", "character varying"}


def test_packages_that_cannot_be_loaded_are_aborted_and_the_watermark_stays(
    duckdb_warehouse, sandbox: Sandbox, fake_clock
) -> None:
    load(duckdb_warehouse, sandbox, fake_clock, kinds=[CONTACTS])
    sandbox.advance_days(2)
    pipeline = duckdb_warehouse.pipeline()
    with client_for(sandbox, fake_clock) as client:
        from pipelines.serviceminder.download_source import serviceminder_downloads

        pipeline.extract(
            serviceminder_downloads(
                client, kinds=[CONTACTS], today=sandbox.today, clock=fake_clock.now, sleep=fake_clock.sleep
            ),
            loader_file_format="parquet",
        )
    extracted = [p for p in Path(pipeline.working_dir).rglob("*.parquet")]
    assert extracted
    for path in extracted:
        path.write_bytes(b"not parquet")  # a package that can never be loaded
    watermark_then = "2026-11-02"
    assert pipeline.state["sources"]["serviceminder_downloads"]["kinds"]["contacts"]["watermark"] > watermark_then

    pipeline, outcome = settle_pending(duckdb_warehouse.pipeline())
    assert outcome == "aborted"
    assert not pipeline.has_pending_data
    # the local state is the warehouse's again: the watermark did not move past data that never arrived
    assert pipeline.state["sources"]["serviceminder_downloads"]["kinds"]["contacts"]["watermark"] == watermark_then
    load(duckdb_warehouse, sandbox, fake_clock, pipeline=pipeline, kinds=[CONTACTS])
    truth = sandbox.truth()
    stored = duckdb_warehouse.records(CONTACTS)
    for record_id, record in truth.live["contacts"].items():
        assert stored[record_id] == record


CHILD_LOAD = """
import sys
from datetime import date
import dlt
from pipelines.serviceminder.client import ServiceminderClient
from pipelines.serviceminder.download_source import run_downloads
from pipelines.serviceminder.downloads import DownloadSettings
from pipelines.serviceminder.kinds import APPOINTMENTS
from pipelines.serviceminder.pipeline import make_pipeline, settle_pending
base_url, key, database, pipelines_dir, today = sys.argv[1:]
pipeline, _ = settle_pending(make_pipeline(dlt.destinations.duckdb(database), pipelines_dir=pipelines_dir))
with ServiceminderClient(key, base_url) as client:
    run_downloads(pipeline, client, kinds=[APPOINTMENTS], today=date.fromisoformat(today),
                  settings=DownloadSettings(poll_interval=0.01))
"""


def test_a_process_killed_mid_download_loses_and_duplicates_nothing(duckdb_warehouse, fake_clock) -> None:
    import signal
    import subprocess
    import sys
    import time as real_time

    with Sandbox(
        api_key=KEY, seed=11, appointments=600, today=TODAY, page_size=100, prep_delay=60, clock=fake_clock.now
    ) as sandbox:
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD_LOAD, sandbox.base_url, KEY, duckdb_warehouse.location,
             str(duckdb_warehouse.pipelines_dir), TODAY.isoformat()],
        )  # fmt: skip

        def fetched() -> int:
            return sum(1 for path, _ in sandbox.requests if path.endswith("getdownload"))

        try:
            deadline = real_time.monotonic() + 60
            while fetched() < 3 and child.poll() is None and real_time.monotonic() < deadline:
                started = sum(1 for path, _ in sandbox.requests if path.endswith("startdownload"))
                if started > fetched():
                    fake_clock.advance(61)  # let the page in preparation get ready
                real_time.sleep(0.02)  # waiting on another process, not on a timer of ours
            assert fetched() >= 3, "the child should be three pages in"
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait()
        sandbox.prep_delay = 0
        load(duckdb_warehouse, sandbox, fake_clock, kinds=[APPOINTMENTS])
        truth = sandbox.truth().live["appointments"]
    stored = duckdb_warehouse.records(APPOINTMENTS)
    assert stored == truth
    assert count_duplicates(duckdb_warehouse) == 0


CHILD_KILLED_AFTER_A_COMMIT = """
import os, signal, sys
from datetime import date
import dlt
from dlt.common.storages.load_package import PackageStorage
from pipelines.serviceminder.client import ServiceminderClient
from pipelines.serviceminder.download_source import run_downloads
from pipelines.serviceminder.downloads import DownloadSettings
from pipelines.serviceminder.kinds import APPOINTMENTS
from pipelines.serviceminder.pipeline import duckdb_destination, make_pipeline
base_url, key, location, pipelines_dir, today = sys.argv[1:]
record_transition = PackageStorage.save_pending_transition

def killed_before_recording(self, load_id, file_name, *args):
    # the warehouse has committed the job; dlt has not yet written down that it ran
    if file_name.startswith("appointments."):
        os.kill(os.getpid(), signal.SIGKILL)
    return record_transition(self, load_id, file_name, *args)

PackageStorage.save_pending_transition = killed_before_recording
destination = dlt.destinations.postgres(location) if location.startswith("postgres") else duckdb_destination(location)
pipeline = make_pipeline(destination, pipelines_dir=pipelines_dir)
with ServiceminderClient(key, base_url) as client:
    run_downloads(pipeline, client, kinds=[APPOINTMENTS], today=date.fromisoformat(today),
                  settings=DownloadSettings(poll_interval=0.01))
"""


def test_a_first_load_whose_job_runs_twice_after_a_kill_keeps_one_row_per_id(
    warehouse: TestWarehouse, sandbox: Sandbox, fake_clock
) -> None:
    import signal
    import subprocess
    import sys

    child = subprocess.run(
        [sys.executable, "-c", CHILD_KILLED_AFTER_A_COMMIT, sandbox.base_url, KEY, warehouse.location,
         str(warehouse.pipelines_dir), TODAY.isoformat()],
        check=False,
    )  # fmt: skip
    assert child.returncode == -signal.SIGKILL
    # the next night finishes the package first: dlt runs the committed job again, so every row is there twice
    pipeline, outcome = settle_pending(warehouse.pipeline())
    assert outcome == "finished"
    assert count_duplicates(warehouse) == warehouse.query("select count(*) from raw.appointments")[0][0] // 2 > 0

    result = load(warehouse, sandbox, fake_clock, pipeline=pipeline, kinds=[APPOINTMENTS])
    assert result.outcomes["appointments"].mode == "incremental"
    assert count_duplicates(warehouse) == 0
    assert warehouse.records(APPOINTMENTS) == sandbox.truth().live["appointments"]


def test_a_first_load_job_that_runs_twice_within_the_run_keeps_one_row_per_id(
    warehouse: TestWarehouse, sandbox: Sandbox, fake_clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    # as if a job committed and then failed to report it (a dropped connection), so dlt ran it again at once
    from dlt.common.destination.client import RunnableLoadJob

    real_run_managed = RunnableLoadJob.run_managed
    ran_twice: list[str] = []

    def commit_twice(self: RunnableLoadJob, *args: Any) -> None:
        if self.file_name().startswith("appointments.") and not ran_twice:
            ran_twice.append(self.file_name())
            real_run_managed(self, *args)
            self._state = "ready"
        real_run_managed(self, *args)

    monkeypatch.setattr(RunnableLoadJob, "run_managed", commit_twice)
    result = load(warehouse, sandbox, fake_clock, kinds=[APPOINTMENTS])
    assert ran_twice and result.outcomes["appointments"].appended
    assert count_duplicates(warehouse) == 0
    assert warehouse.records(APPOINTMENTS) == sandbox.truth().live["appointments"]


def serve_changed_rows(
    monkeypatch: pytest.MonkeyPatch, sandbox: Sandbox, kind_key: str, change: Callable[[list], list]
) -> None:
    """Make the sandbox serve ``change(rows)`` as each page of one kind."""
    real_select = type(sandbox.brand).select

    def select(self: Any, key: str, **kwargs: Any) -> list[dict[str, Any]]:
        rows = real_select(self, key, **kwargs)
        return change(rows) if key == kind_key and rows else rows

    monkeypatch.setattr(type(sandbox.brand), "select", select)


def test_a_first_download_that_lists_an_id_twice_keeps_one_row_of_it(
    duckdb_warehouse: TestWarehouse, sandbox: Sandbox, fake_clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    serve_changed_rows(monkeypatch, sandbox, "appointments", lambda rows: rows[:1] + rows)
    result = load(duckdb_warehouse, sandbox, fake_clock, kinds=[APPOINTMENTS])
    outcome = result.outcomes["appointments"]
    assert outcome.appended and not outcome.ids_ascending
    assert count_duplicates(duckdb_warehouse) == 0
    assert duckdb_warehouse.records(APPOINTMENTS) == sandbox.truth().live["appointments"]


def test_a_first_load_of_a_kind_with_no_rows_at_all(
    warehouse: TestWarehouse, sandbox: Sandbox, fake_clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    serve_changed_rows(monkeypatch, sandbox, "proposals", lambda rows: [])
    result = load(warehouse, sandbox, fake_clock, kinds=[APPOINTMENTS, KINDS_BY_KEY["proposals"]])
    assert result.outcomes["proposals"].appended and result.outcomes["proposals"].rows == 0
    assert not warehouse.table_exists("raw", "proposals")
    monkeypatch.undo()
    sandbox.advance_days(1)
    later = load(warehouse, sandbox, fake_clock, kinds=[APPOINTMENTS, KINDS_BY_KEY["proposals"]])
    assert later.outcomes["proposals"].rows > 0
    assert count_duplicates(warehouse) == 0


def test_a_first_load_is_appended_and_later_loads_merge(warehouse: TestWarehouse, sandbox: Sandbox, fake_clock) -> None:
    first = load(warehouse, sandbox, fake_clock)
    assert all(o.appended for o in first.outcomes.values())
    sandbox.advance_days(1)
    later = load(warehouse, sandbox, fake_clock, full_refresh={"contacts"})
    assert not any(o.appended for o in later.outcomes.values())
    assert later.outcomes["contacts"].mode == "full"
    assert warehouse.live_records(CONTACTS) == sandbox.truth().live["contacts"]
    assert count_duplicates(warehouse) == 0


def test_a_kind_without_a_watermark_but_with_rows_is_merged_not_appended(
    duckdb_warehouse: TestWarehouse, sandbox: Sandbox, fake_clock
) -> None:
    load(duckdb_warehouse, sandbox, fake_clock, kinds=[CONTACTS])
    # the working folder is lost and dlt cannot find the state either: the table is not empty, so it is merged
    duckdb_warehouse.pipeline().drop()
    with duckdb.connect(duckdb_warehouse.location) as conn:
        conn.execute("delete from raw._dlt_pipeline_state")
    result = load(duckdb_warehouse, sandbox, fake_clock, pipeline=duckdb_warehouse.pipeline(), kinds=[CONTACTS])
    assert result.outcomes["contacts"].mode == "full"
    assert not result.outcomes["contacts"].appended
    assert count_duplicates(duckdb_warehouse) == 0
    assert duckdb_warehouse.records(CONTACTS) == sandbox.truth().live["contacts"]


def test_a_record_whose_line_a_full_refresh_rejects_is_not_counted_deleted(
    warehouse: TestWarehouse, sandbox: Sandbox, fake_clock
) -> None:
    load(warehouse, sandbox, fake_clock, kinds=[CONTACTS])
    unreadable = sorted(sandbox.truth().live["contacts"])[5]
    sandbox.malformed["contacts"] = {unreadable}
    result = load(warehouse, sandbox, fake_clock, kinds=[CONTACTS], full_refresh={"contacts"})
    assert result.rejected == 1
    assert warehouse.query("select entity_id from raw.rejected_rows") == [(unreadable,)]
    assert ("Contact", unreadable) not in warehouse.deletions()
    assert unreadable in warehouse.live_records(CONTACTS)  # its last good version stays


def test_runs_give_dlt_nothing_to_warn_about(duckdb_warehouse, sandbox: Sandbox, fake_clock) -> None:
    # the arrow tables must say what the dlt hints say (e.g. nullability); dlt warns once per item otherwise
    warnings: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            warnings.append(record.getMessage())

    handler = Collect(level=logging.WARNING)
    dlt_logger = logging.getLogger("dlt")
    dlt_logger.addHandler(handler)
    try:
        sandbox.malformed["appointments"] = {sorted(sandbox.truth().live["appointments"])[5]}
        assert load(duckdb_warehouse, sandbox, fake_clock).rejected == 1
        sandbox.advance_days(3)
        refresh = load(duckdb_warehouse, sandbox, fake_clock, full_refresh={k.key for k in ALL_KINDS})
    finally:
        dlt_logger.removeHandler(handler)
    assert refresh.deletions > 0, "the runs should have covered the rejected-rows and deletions tables too"
    assert warnings == []


@pytest.mark.postgres
def test_postgres_streams_parquet_into_one_copy_a_row_group_at_a_time(
    postgres_url: str, tmp_path: Path, sandbox: Sandbox, fake_clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    # ADBC makes one in-memory table of whatever is not an Arrow stream (dlt passes a generator): a whole file
    monkeypatch.setenv("DATA_WRITER__BUFFER_MAX_ITEMS", "200")  # a row group per page, as with real page sizes
    streamed: list[list[int]] = []  # per ADBC call on appointments: the sizes of the batches it pulled
    real_ingest = dbapi.Cursor.adbc_ingest

    def ingest(self: dbapi.Cursor, table_name: str, data: Any, *args: Any, **kwargs: Any) -> int:
        if table_name != "appointments":
            return real_ingest(self, table_name, data, *args, **kwargs)
        assert isinstance(data, pa.RecordBatchReader), f"ADBC was given a {type(data).__name__}, not a stream"
        pulled: list[int] = []
        streamed.append(pulled)

        def watched() -> Iterator[pa.RecordBatch]:
            for batch in data:
                pulled.append(batch.num_rows)
                yield batch

        return real_ingest(self, table_name, pa.RecordBatchReader.from_batches(data.schema, watched()), *args, **kwargs)

    monkeypatch.setattr(dbapi.Cursor, "adbc_ingest", ingest)
    warehouse = make_test_warehouse("postgres", tmp_path, postgres_url)
    load(warehouse, sandbox, fake_clock, kinds=[APPOINTMENTS])
    truth = sandbox.truth().live["appointments"]
    assert len(streamed) == 1, "one file, one COPY"
    assert len(streamed[0]) > 1 and max(streamed[0]) <= 500, streamed  # no more than a page (a row group) at a time
    assert sum(streamed[0]) == len(truth) == len(warehouse.records(APPOINTMENTS))
