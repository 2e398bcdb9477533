"""``smw sandbox``: argument parsing, and a real process answering start -> status -> getdownload -> fetch."""

from __future__ import annotations

import argparse
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from pipelines.sandbox.command import parse_scale, run_sandbox_command
from warehouse.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("text", "value"),
    [("2000", 2_000), ("10k", 10_000), ("10K", 10_000), ("1m", 1_000_000), ("1M", 1_000_000), ("2.5k", 2_500)],
)
def test_scale_accepts_suffixes(text: str, value: int) -> None:
    assert parse_scale(text) == value


@pytest.mark.parametrize("text", ["", "lots", "0", "-5", "10g", "1e6"])
def test_scale_refuses_what_is_not_a_count(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="scale must"):
        parse_scale(text)


def test_smw_sandbox_arguments() -> None:
    args = build_parser().parse_args(
        ["sandbox", "--port", "0", "--api-key", "k", "--seed", "4", "--scale", "10k", "--page-size", "500"]
        + ["--prep-delay", "0.5", "--today", "2026-08-26", "--advance-every", "60", "--org-key", "ok=1000000001"]
        + ["--days", "3"]
    )
    assert (args.port, args.api_key, args.seed, args.scale, args.page_size) == (0, "k", 4, 10_000, 500)
    assert (args.prep_delay, str(args.today), args.advance_every) == (0.5, "2026-08-26", 60.0)
    assert (args.org_key, args.days) == ([("ok", 1_000_000_001)], 3)
    defaults = build_parser().parse_args(["sandbox"])
    assert (defaults.port, defaults.scale, defaults.page_size, defaults.advance_every) == (8765, 2_000, 25_000, None)
    assert (defaults.api_key, defaults.seed, defaults.days, defaults.prep_delay) == ("sandbox-key", 1, 0, 1.0)


@pytest.mark.parametrize(
    "argv",
    [["--today", "26/8/2026"], ["--prep-delay", "-1"], ["--org-key", "no-equals"], ["--scale", "many"]],
)
def test_smw_sandbox_refuses_bad_arguments(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(["sandbox", *argv])
    assert exit_info.value.code == 2
    assert "error:" in capsys.readouterr().err


def test_a_busy_port_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        args = build_parser().parse_args(["sandbox", "--port", str(busy.getsockname()[1]), "--scale", "50"])
        assert run_sandbox_command(args) == 2
    assert "cannot start the sandbox" in capsys.readouterr().err


@pytest.mark.parametrize(("argv", "message"), [(["--page-size", "0"], "--page-size"), (["--days", "-1"], "--days")])
def test_out_of_range_numbers_are_clear_errors(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_sandbox_command(build_parser().parse_args(["sandbox", *argv])) == 2
    assert message in capsys.readouterr().err


class SandboxProcess:
    """``python -m warehouse.cli sandbox ...`` with its stdout read line by line on a thread (never blocks a test)."""

    def __init__(self, *extra: str) -> None:
        command = [sys.executable, "-m", "warehouse.cli", "sandbox", "--port", "0", "--api-key", "curl-key"]
        command += ["--scale", "300", "--prep-delay", "0", "--today", "2026-08-26", *extra]
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))

    def wait_for(self, pattern: str, timeout: float = 60) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            self.seen.append(line)
            match = re.search(pattern, line)
            if match:
                return match
        raise AssertionError(f"no line matching {pattern!r}; output so far: {self.seen}")

    def stop(self, sig: int) -> int:
        self.process.send_signal(sig)
        return self.process.wait(timeout=20)


@pytest.fixture
def served() -> Iterator[SandboxProcess]:
    process = SandboxProcess("--days", "2")
    try:
        yield process
    finally:
        if process.process.poll() is None:
            process.process.kill()
            process.process.wait()


def test_smw_sandbox_serves_start_status_getdownload_fetch_and_stops_on_sigterm(served: SandboxProcess) -> None:
    base_url = served.wait_for(r"listening at (http://127\.0\.0\.1:\d+/api/)")[1]
    served.wait_for(r"accepted brand API key: curl-key")
    served.wait_for(r"business date 2026-08-28")
    waiting = int(served.wait_for(r"(\d+) events waiting in the feed")[1])
    assert waiting > 0
    served.wait_for(r"curl -s -X POST .*datasubscriber/startdownload")
    with httpx.Client(timeout=10) as http:
        started = http.post(
            base_url + "datasubscriber/startdownload", json={"ApiKey": "curl-key", "Kind": "branding-contacts"}
        )
        download_id = started.json()["DownloadId"]
        status = http.post(
            base_url + "datasubscriber/downloadstatus", json={"ApiKey": "curl-key", "DownloadId": download_id}
        )
        assert status.json()["Ready"] is True
        body = http.post(
            base_url + "datasubscriber/getdownload", json={"ApiKey": "curl-key", "DownloadId": download_id}
        )
        assert body.content.startswith(b"\xef\xbb\xbfId,Organization Id,") and body.content.count(b"\r\n") > 10
        fetched = http.post(base_url + "datasubscriber/fetch", json={"ApiKey": "curl-key"}).json()
        assert (fetched["ResultCode"], fetched["ApiKey"]) == (0, "curl-key")
        assert fetched["EventCount"] == min(waiting, 500) and fetched["Events"]
        wrong = http.post(base_url + "datasubscriber/fetch", json={"ApiKey": "nope"}).json()
        assert wrong["ResultCode"] == 3
    assert served.stop(signal.SIGTERM) == 0
    served.wait_for("sandbox stopped")


def test_smw_sandbox_stops_cleanly_on_ctrl_c(served: SandboxProcess) -> None:
    served.wait_for("press Ctrl-C to stop")
    assert served.stop(signal.SIGINT) == 0
    served.wait_for("sandbox stopped")
    assert not any("Traceback" in line for line in served.seen)


def test_smw_sandbox_advances_days_on_a_timer() -> None:
    process = SandboxProcess("--advance-every", "0.05")
    try:
        process.wait_for(r"business date 2026-08-26")
        process.wait_for(r"advanced to 2026-08-27; \d+ events waiting in the feed")
        assert process.stop(signal.SIGTERM) == 0
    finally:
        if process.process.poll() is None:
            process.process.kill()
            process.process.wait()
