"""Publishing on DuckDB: a BI reader PROCESS holds the published copy open while a run replaces it.

The reader keeps its old file and old data, a new session sees the new data, and the run never waits for the
reader. A run whose blocking data test fails leaves the published copy (and the warehouse's marts) as they were.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import duckdb

from pipelines.sandbox import Sandbox
from tests.nightly.conftest import REPO, failing_models, make_config, nightly
from warehouse.nightly import EXIT_OK, EXIT_TESTS_FAILED

READER = r"""
import json, sys, duckdb
path = sys.argv[1]
old = duckdb.connect(path, read_only=True)
count = lambda conn: conn.execute("select count(*) from marts.fct_feed_events").fetchone()[0]
print(json.dumps({"first": count(old)}), flush=True)
sys.stdin.readline()  # the test runs the nightly job meanwhile
still = count(old)
old.close()  # DuckDB shares one instance per file within a process: a new session there needs the old one closed
print(json.dumps({"old_session": still, "reconnected": count(duckdb.connect(path, read_only=True))}), flush=True)
"""


def feed_events(path: Path) -> int:
    with duckdb.connect(str(path), read_only=True) as conn:
        return conn.execute("select count(*) from marts.fct_feed_events").fetchone()[0]


def test_a_reader_process_keeps_its_copy_and_new_sessions_see_the_new_one(
    sandbox: Sandbox, duckdb_url: str, tmp_path: Path
) -> None:
    config = make_config(duckdb_url, tmp_path)
    assert nightly(config, sandbox).exit_code == EXIT_OK
    published = config.publish_path
    before = feed_events(published)
    inode_before = published.stat().st_ino

    reader = subprocess.Popen(
        [sys.executable, "-c", READER, str(published)],
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert reader.stdout is not None and reader.stdin is not None
        assert json.loads(reader.stdout.readline()) == {"first": before}
        sandbox.advance_days(3)
        started = time.monotonic()
        ran = nightly(config, sandbox)
        took = time.monotonic() - started
        assert ran.exit_code == EXIT_OK, ran.result.message
        reader.stdin.write("go on\n")
        reader.stdin.flush()
        seen = json.loads(reader.stdout.readline())
        assert reader.wait(timeout=30) == 0
    finally:
        if reader.poll() is None:
            reader.kill()
    after = feed_events(published)  # a new session in another process (this one)
    assert after > before == 0, "three simulated days bring feed events"
    assert seen == {"old_session": before, "reconnected": after}
    assert published.stat().st_ino != inode_before, "the copy was replaced, not written in place"
    assert took < 60, "the run did not wait for the reader"
    leftovers = [p.name for p in published.parent.iterdir() if p.name.endswith(".tmp") or p.name.endswith(".wal")]
    assert leftovers == []


def test_a_failing_data_test_keeps_the_published_marts(sandbox: Sandbox, duckdb_url: str, tmp_path: Path) -> None:
    config = make_config(duckdb_url, tmp_path)
    assert nightly(config, sandbox).exit_code == EXIT_OK
    published = config.publish_path
    before, stamp = feed_events(published), published.stat().st_mtime_ns
    with duckdb.connect(str(config.target.path), read_only=True) as conn:
        warehouse_before = conn.execute("select count(*) from marts.fct_feed_events").fetchone()[0]

    sandbox.advance_days(3)
    failing = replace(config, models_dir=failing_models(tmp_path))
    ran = nightly(failing, sandbox)
    assert ran.exit_code == EXIT_TESTS_FAILED
    assert (
        "a blocking data test failed, so nothing was published and the previous marts were kept" in ran.result.message
    )
    assert "reports.no_appointments_allowed" in ran.result.message
    assert published.stat().st_mtime_ns == stamp and feed_events(published) == before == 0
    with duckdb.connect(str(config.target.path), read_only=True) as conn:
        # the build ran in one transaction: the warehouse's own marts were rolled back too
        assert conn.execute("select count(*) from marts.fct_feed_events").fetchone()[0] == warehouse_before
        assert conn.execute("select count(*) from raw.feed_events").fetchone()[0] > 0, "the new data was loaded"
        status, error = conn.execute("select status, error from meta.runs order by started_at desc limit 1").fetchone()
    assert status == "tests_failed" and "no_appointments_allowed" in error

    fixed = nightly(config, sandbox)  # the next good run publishes the new data
    assert fixed.exit_code == EXIT_OK
    assert feed_events(published) > 0
    assert not os.access(published, os.W_OK) or os.geteuid() == 0
