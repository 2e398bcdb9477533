"""What ``smw run`` prints: plain lines or JSON lines (and live progress on a terminal), never the API key.

The runs here are real ``smw run`` processes against the sandbox on loopback, with faults, a missing column and
unparseable rows, so that retries, warnings and errors all get printed.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from pipelines.sandbox import Faults, Sandbox
from pipelines.serviceminder.downloads import DownloadProgress
from pipelines.serviceminder.redaction import REDACTOR
from tests.nightly.conftest import KEY, MODELS_DIR, TODAY
from warehouse.cli import main
from warehouse.lock import acquire, this_process
from warehouse.nightly import EXIT_LOCKED, EXIT_ROWS_REJECTED, EXIT_SOURCE_ERROR, utc_now
from warehouse.progress import LiveBlock, Reporter, choose_mode
from warehouse.run_commands import run_status
from warehouse.target import parse_target


def smw(args: list[str], base_url: str, cwd: Path, key: str = KEY) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "SOURCES__SERVICEMINDER__API_KEY": key,
        "SOURCES__SERVICEMINDER__BASE_URL": base_url,
        "SOURCES__SERVICEMINDER__RETRY_BASE_DELAY": "0.01",
        "SOURCES__SERVICEMINDER__RETRY_MAX_DELAY": "0.05",
        "NIGHTLY__POLL_INTERVAL": "0.05",
        "SMW_WAREHOUSE": "duckdb:///data/warehouse.duckdb",
    }
    env.pop("CI", None)
    command = [sys.executable, "-m", "warehouse.cli", *args, "--models-dir", str(MODELS_DIR)]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=180)


@pytest.fixture
def faulty_sandbox() -> Sandbox:
    faults = Faults(rate_429=0.05, rate_5xx=0.05, rate_drop=0.03, rate_truncate=0.05, seed=3, retry_after=0)
    with Sandbox(api_key=KEY, seed=9, appointments=200, today=TODAY, page_size=120, faults=faults) as sandbox:
        sandbox.missing_columns["contacts"] = {"campaign"}
        sandbox.malformed["invoices"] = {sorted(sandbox.truth().live["invoices"])[3]}
        yield sandbox


def test_text_and_json_output_carry_everything_but_the_key(faulty_sandbox: Sandbox, tmp_path: Path) -> None:
    text = smw(["run", "--log-format", "text", "--today", str(TODAY)], faulty_sandbox.base_url, tmp_path)
    assert text.returncode == EXIT_ROWS_REJECTED, text.stderr
    assert faulty_sandbox.fault_log, "the sandbox should have injected faults"
    assert "retry 1 of" in text.stderr, "retries are logged"
    assert "has no column(s) campaign" in text.stderr
    assert "1 row(s) could not be parsed and were not loaded (invoices 1)" in text.stderr + text.stdout
    assert text.stdout.startswith("run ") and "rows_rejected" in text.stdout and "catalog" in text.stdout
    for line in text.stderr.splitlines():
        assert line[:4].isdigit() and line[19:20] == " ", f"not a log line: {line!r}"

    faulty_sandbox.advance_days(2)
    json_run = smw(["run", "--log-format", "json", "--today", "2026-03-12"], faulty_sandbox.base_url, tmp_path)
    assert json_run.returncode == 0, json_run.stderr  # incremental: the bad invoice is not downloaded again
    lines = [json.loads(line) for line in json_run.stderr.splitlines()]
    assert all({"time", "level", "logger", "message"} <= set(line) for line in lines)
    done = {line["kind"]: line for line in lines if line.get("event") == "download_done"}
    assert set(done) == {"contacts", "appointments", "invoices", "invoice_lines", "proposals", "payments"}
    assert all(isinstance(d["rows"], int) and d["pages"] >= 1 for d in done.values())
    feed = next(line for line in lines if line.get("event") == "feed_done")
    assert feed["events"] > 0
    summary = json.loads(json_run.stdout)
    assert summary["event"] == "run_finished" and summary["exit_code"] == 0
    assert summary["status"] == "success" and summary["feed_events"] == feed["events"]
    assert list(summary["step_seconds"]) == ["pending", "downloads", "feed", "build", "publish"]

    status_text, status_json = io.StringIO(), io.StringIO()
    url = f"duckdb:///{tmp_path / 'data' / 'warehouse.duckdb'}"
    assert run_status(argparse.Namespace(warehouse=url, json=False, runs=5), out=status_text) == 0
    assert run_status(argparse.Namespace(warehouse=url, json=True, runs=5), out=status_json) == 0
    assert len(json.loads(status_json.getvalue())["runs"]) == 2

    everything = "\n".join(
        [text.stdout, text.stderr, json_run.stdout, json_run.stderr, status_text.getvalue(), status_json.getvalue()]
    )
    assert KEY not in everything
    with parse_target(url).connect() as conn:
        tables = conn.query("select table_schema, table_name from information_schema.tables")
        for schema, table in tables:
            for row in conn.query(f'select * from "{schema}"."{table}"'):
                assert KEY not in " ".join(str(v) for v in row), f"the key is stored in {schema}.{table}"
    stored = [p for p in (tmp_path / "data").rglob("*") if p.is_file()]
    assert not [p for p in stored if KEY.encode() in p.read_bytes()], "the key is in a file under data/"


def test_a_rejected_key_is_one_clear_line_without_the_key(tmp_path: Path) -> None:
    wrong = "wrong-key-9f8e7d6c5b4a"
    with Sandbox(api_key=KEY, seed=9, appointments=50, today=TODAY) as sandbox:
        for fmt in ("text", "json"):
            ran = smw(["run", "--log-format", fmt], sandbox.base_url, tmp_path, key=wrong)
            assert ran.returncode == EXIT_SOURCE_ERROR
            assert wrong not in ran.stdout + ran.stderr
            assert "serviceminder rejected the API key" in ran.stdout + ran.stderr
            assert "Traceback" not in ran.stderr


def test_a_second_run_is_turned_away_by_the_command(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    url = f"duckdb:///{tmp_path / 'w.duckdb'}"
    target = parse_target(url)
    held = acquire(target, this_process("20260310T020000Z-beef", utc_now()))
    try:
        code = main(["run", "--warehouse", url, "--log-format", "text", "--models-dir", str(MODELS_DIR)])
    finally:
        held.release()
    out = capsys.readouterr()
    assert code == EXIT_LOCKED
    assert "run 20260310T020000Z-beef (pid" in out.err and "holds the lock" in out.err
    assert out.out.startswith("smw run: run 20260310T020000Z-beef") and "(exit 6)" in out.out


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_live_progress_on_a_terminal_redraws_one_line_per_kind(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TERM", "xterm")
    terminal = FakeTerminal()
    assert choose_mode("auto", terminal) == "live"
    assert choose_mode("auto", io.StringIO()) == "text"
    assert choose_mode("json", terminal) == "json"
    REDACTOR.register(KEY)
    with Reporter("live", terminal) as reporter:
        reporter.start_downloads(["contacts", "appointments"])
        reporter.download(DownloadProgress("contacts", "started", 0, 0))
        reporter.download(DownloadProgress("contacts", "waiting", 0, 0, waited=12.4))
        reporter.download(DownloadProgress("appointments", "done", 3, 51_234))
        reporter.block.set(list(reporter.block.lines), force=True)
        frame = terminal.getvalue().rsplit("\x1b[J", 1)[-1]
        reporter.event("a log line with the key %s in it", KEY)
        reporter.finish_downloads()
    lines = [" ".join(line.split()) for line in frame.splitlines()]
    assert lines == ["contacts page 1 0 rows waiting for serviceminder 12s", "appointments done 51,234 rows in 3 pages"]
    first, second = frame.splitlines()
    assert first.index(" rows") == second.index(" rows"), "the row counts line up"
    assert "\x1b[2F\x1b[J" in terminal.getvalue(), "the block is redrawn in place"
    assert "a log line with the key *** in it" in terminal.getvalue()
    assert KEY not in terminal.getvalue()


def test_text_mode_logs_waiting_only_when_it_is_long() -> None:
    stream = io.StringIO()
    clock = iter(float(t) for t in range(0, 1000, 10))
    reporter = Reporter("text", stream, clock=lambda: next(clock))
    with reporter:
        reporter.download(DownloadProgress("payments", "waiting", 0, 0, waited=5.0))
        reporter.download(DownloadProgress("payments", "waiting", 0, 0, waited=65.0))
        reporter.download(DownloadProgress("payments", "waiting", 0, 0, waited=70.0))
        reporter.download(DownloadProgress("payments", "page", 1, 25_000))
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2
    assert lines[0].endswith("payments: waiting for serviceminder to prepare page 1 (65s so far)")
    assert lines[1].endswith("payments: page 1 downloaded, 25,000 rows so far")


def test_live_block_only_redraws_so_often() -> None:
    terminal = FakeTerminal()
    now = [0.0]
    block = LiveBlock(terminal, clock=lambda: now[0])
    block.set(["a"])
    block.set(["b"])  # within 0.1 s: not drawn
    now[0] = 1.0
    block.set(["c"])
    assert terminal.getvalue().count("\n") == 2 and "b\n" not in terminal.getvalue()


def test_sigterm_stops_the_run_as_interrupted_and_releases_the_lock(tmp_path: Path) -> None:
    with Sandbox(api_key=KEY, seed=9, appointments=50, today=TODAY, prep_delay=60.0) as sandbox:
        env = {
            **os.environ,
            "SOURCES__SERVICEMINDER__API_KEY": KEY,
            "SOURCES__SERVICEMINDER__BASE_URL": sandbox.base_url,
            "NIGHTLY__POLL_INTERVAL": "0.05",
            "SMW_WAREHOUSE": "duckdb:///data/warehouse.duckdb",
        }
        command = [
            sys.executable,
            "-m",
            "warehouse.cli",
            "run",
            "--log-format",
            "text",
            "--models-dir",
            str(MODELS_DIR),
        ]
        run = subprocess.Popen(
            command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        try:
            assert run.stderr is not None
            for line in run.stderr:
                if "downloading the six kinds" in line:
                    break
            run.send_signal(signal.SIGTERM)  # what systemd does on stop or TimeoutStartSec
            out, _ = run.communicate(timeout=60)
        finally:
            if run.poll() is None:
                run.kill()
    assert run.returncode == 130
    assert "interrupted" in out
    url = f"duckdb:///{tmp_path / 'data' / 'warehouse.duckdb'}"
    with parse_target(url).connect() as conn:
        assert conn.query("select status, exit_code from meta.runs") == [("interrupted", 130)]
    acquire(parse_target(url), this_process("next", utc_now())).release()
