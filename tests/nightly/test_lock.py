"""The run lock: one run per warehouse; a killed run's lock is detected as stale and taken over."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest

from pipelines.sandbox import Sandbox
from tests.nightly.conftest import REPO, make_config, nightly
from warehouse import runlog
from warehouse.lock import FileLock, Holder, LockHeld, PostgresLock, acquire, read_holder
from warehouse.nightly import EXIT_LOCKED
from warehouse.target import parse_target

STARTED = datetime(2026, 3, 10, 2, 0, 0)


def holder(run_id: str = "run-a", pid: int | None = None) -> Holder:
    return Holder(run_id, pid or os.getpid(), "host-a", STARTED.isoformat())


def test_a_second_file_lock_is_refused_and_names_the_holder(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb.lock"
    first = FileLock.acquire(path, holder("run-a"), warehouse="duckdb:///w.duckdb")
    with pytest.raises(LockHeld) as refused:
        FileLock.acquire(path, holder("run-b"), warehouse="duckdb:///w.duckdb")
    assert refused.value.holder == holder("run-a")
    assert "run run-a (pid" in str(refused.value) and "duckdb:///w.duckdb" in str(refused.value)
    assert read_holder(parse_target(f"duckdb:///{tmp_path}/w.duckdb")) == (True, holder("run-a"))
    first.release()
    again = FileLock.acquire(path, holder("run-b"))
    assert again.stale is None, "a released lock is not stale"
    again.release()
    assert path.read_text() == "", "a clean release leaves no holder behind"
    assert read_holder(parse_target(f"duckdb:///{tmp_path}/w.duckdb")) == (False, None)


def test_a_lock_left_by_a_killed_process_is_stale_and_taken_over(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb.lock"
    script = (
        "import os, pathlib, time\n"
        "from warehouse.lock import FileLock, Holder\n"
        f"lock = FileLock.acquire(pathlib.Path({str(path)!r}), Holder('killed-run', os.getpid(), 'host-k', "
        "'2026-03-10T02:00:00'))\n"
        "print('locked', flush=True)\n"
        "time.sleep(120)\n"
    )
    child = subprocess.Popen([sys.executable, "-c", script], cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "locked"
        with pytest.raises(LockHeld):
            FileLock.acquire(path, holder("run-b"))
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
    finally:
        if child.poll() is None:
            child.kill()
    taken = FileLock.acquire(path, holder("run-b"))
    try:
        assert taken.stale == Holder("killed-run", child.pid, "host-k", "2026-03-10T02:00:00")
    finally:
        taken.release()


def test_a_run_finds_the_lock_held_and_does_nothing(sandbox: Sandbox, duckdb_url: str, tmp_path: Path) -> None:
    config = make_config(duckdb_url, tmp_path)
    assert config.lock_path is not None
    held = acquire(config.target, holder("the-other-run"), lock_path=config.lock_path)
    try:
        ran = nightly(config, sandbox)
    finally:
        held.release()
    assert ran.exit_code == EXIT_LOCKED
    assert ran.result.record is None
    assert "run the-other-run (pid" in ran.result.message and "this run did nothing" in ran.result.message
    assert not sandbox.requests, "a locked-out run does not talk to serviceminder"
    assert not config.target.path.exists(), "nor does it open the warehouse"


def test_a_run_takes_over_a_stale_lock_and_marks_the_dead_run_abandoned(
    sandbox: Sandbox, duckdb_url: str, tmp_path: Path
) -> None:
    config = make_config(duckdb_url, tmp_path)
    dead = runlog.RunRecord("20260310T020000Z-dead", STARTED, "host-k", 4242)
    with config.target.connect() as conn:
        runlog.start(conn, dead)
    config.lock_path.write_text(
        '{"run_id": "20260310T020000Z-dead", "pid": 4242, "host": "host-k", "started_at": "2026-03-10T02:00:00"}'
    )
    ran = nightly(config, sandbox)
    assert ran.exit_code == 0, ran.result.message
    assert ran.result.stale_lock is not None and ran.result.stale_lock.run_id == "20260310T020000Z-dead"
    assert "took over a stale lock: run 20260310T020000Z-dead (pid 4242 on host-k" in ran.log
    assert "run 20260310T020000Z-dead died without recording its end" in ran.log
    with config.target.connect() as conn:
        rows = dict(conn.query("select run_id, status from meta.runs"))
    assert rows == {"20260310T020000Z-dead": "abandoned", ran.result.record.run_id: "success"}
    assert config.lock_path.read_text() == ""


@pytest.mark.postgres
def test_postgres_advisory_lock_is_exclusive_and_a_dead_session_leaves_a_stale_holder(postgres_url: str) -> None:
    target = parse_target(postgres_url)
    first = PostgresLock.acquire(target, holder("run-a"))
    with pytest.raises(LockHeld) as refused:
        PostgresLock.acquire(target, holder("run-b"))
    assert refused.value.holder == holder("run-a")
    assert read_holder(target) == (True, holder("run-a"))
    first._conn.close()  # the process dies: the server ends the session and its advisory lock, the row stays
    taken = PostgresLock.acquire(target, holder("run-b"))
    assert taken.stale == holder("run-a")
    taken.release()
    assert read_holder(target) == (False, None)
    clean = PostgresLock.acquire(target, holder("run-c"))
    assert clean.stale is None
    clean.release()


def test_status_leaves_the_warehouse_alone_while_a_run_holds_the_lock(
    sandbox: Sandbox, duckdb_url: str, tmp_path: Path
) -> None:
    from warehouse.status import gather_status

    config = make_config(duckdb_url, tmp_path)
    assert nightly(config, sandbox).exit_code == 0
    held = acquire(config.target, holder("busy-run"), lock_path=config.lock_path)
    try:
        status = gather_status(config)
    finally:
        held.release()
    assert status["warehouse_readable"] is False and status["runs"] == []
    assert status["lock"]["held"] and status["note"].startswith("the warehouse is busy: run busy-run (pid")
    assert status["published"]["exists"], "what BI tools see is still shown"
    assert gather_status(config)["runs"], "once the run is over, status reads the warehouse"


def test_a_run_waits_for_a_reader_that_has_the_duckdb_file_open_for_a_moment(tmp_path: Path) -> None:
    from warehouse.nightly import _connect

    path = tmp_path / "w.duckdb"
    import duckdb

    duckdb.connect(str(path)).close()
    reader = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import duckdb, sys; c = duckdb.connect({str(path)!r}, read_only=True); "
            "print('open', flush=True); sys.stdin.readline()",
        ],  # fmt: skip
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert reader.stdout is not None and reader.stdin is not None
    assert reader.stdout.readline().strip() == "open"
    waits: list[float] = []

    def sleep(seconds: float) -> None:  # the reader goes away while the run waits
        waits.append(seconds)
        if reader.poll() is None:
            reader.stdin.write("done\n")
            reader.stdin.flush()
            reader.wait(timeout=10)

    conn = _connect(parse_target(f"duckdb:///{path}"), sleep)
    conn.close()
    assert waits, "the first attempt met the reader's lock"
