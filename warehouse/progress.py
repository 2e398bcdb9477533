"""What ``smw run`` prints while it works: live progress on a terminal, log lines under cron, or JSON lines.

- ``live`` (a terminal, ``--log-format auto``): a block redrawn in place with one line per download kind (pages,
  rows, "waiting for serviceminder"), then the step under way; log lines scroll above it.
- ``text`` (no terminal, or ``--log-format text``): one plain line per event, for cron mail and log files.
- ``json`` (``--log-format json``): one JSON object per line, with the event's fields (``event``, ``kind``,
  ``rows`` ...), for log shippers.

Every handler installed here carries ``RedactingFilter``, dlt's own log lines are routed through the same handlers,
and Python warnings too, so nothing that reaches the output can hold the API key.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, TextIO

from pipelines.serviceminder.downloads import DownloadProgress
from pipelines.serviceminder.redaction import REDACTOR, RedactingFilter

LogFormat = Literal["auto", "text", "json"]
Mode = Literal["live", "text", "json"]
log = logging.getLogger("warehouse.run")

OUR_LOGGERS = ("warehouse", "pipelines")
CHATTY_LOGGERS = ("pipelines",)  # per-download and per-batch INFO lines: shown with --verbose only
QUIET_LOGGERS = ("httpx", "httpcore", "urllib3", "sqlglot")
WAITING_LOG_EVERY = 60.0  # when not live, a kind waiting this long gets a "still waiting" line, and again as often
REDRAW_EVERY = 0.1  # seconds between redraws of the live block
# dlt warns on every load that our explicit column hints differ from the Arrow types: that is the point of them
_EXPECTED_DLT_WARNINGS = (
    "when merging arrow schema with dlt schema, several column hints were different",
    # raw_tables.py creates empty tables through insert_values on purpose
    "and job file format insert_values native writer could not be found",
)


def choose_mode(log_format: LogFormat, stream: TextIO) -> Mode:
    if log_format == "json":
        return "json"
    if log_format == "text":
        return "text"
    is_tty = hasattr(stream, "isatty") and stream.isatty()
    return "live" if is_tty and os.environ.get("TERM", "") != "dumb" else "text"


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(message)s", datefmt="%Y-%m-%d %H:%M:%S")


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time (UTC), level, logger, message, and the record's ``smw`` fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = getattr(record, "smw", None)
        if isinstance(fields, dict):
            entry.update(fields)
        if record.exc_info and record.exc_info[1] is not None:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        return REDACTOR.redact(json.dumps(entry, default=str))


class LiveFormatter(logging.Formatter):
    """Terminal lines: the time, the level only when it matters, the message."""

    def __init__(self) -> None:
        super().__init__(datefmt="%H:%M:%S")

    def format(self, record: logging.LogRecord) -> str:
        level = f"{record.levelname} " if record.levelno >= logging.WARNING else ""
        text = f"{self.formatTime(record, self.datefmt)} {level}{record.getMessage()}"
        if record.exc_info and record.exc_info[1] is not None:
            text += "\n" + self.formatException(record.exc_info)
        elif record.exc_text:
            text += "\n" + record.exc_text
        return text


class _DropExpected(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno > logging.WARNING:
            return True
        message = record.getMessage()
        return not any(text in message for text in _EXPECTED_DLT_WARNINGS)


class _Forward(logging.Handler):
    """Sits on dlt's logger (which does not propagate) and hands its records to ours."""

    def __init__(self, target: logging.Handler) -> None:
        super().__init__()
        self._target = target

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= self._target.level:
            self._target.handle(record)


@dataclass
class _Kind:
    state: str = "queued"  # queued, starting, waiting, page, done
    pages: int = 0
    rows: int = 0
    waited: float = 0.0
    last_wait_logged: float = float("-inf")


class LiveBlock:
    """Lines redrawn in place at the bottom of a terminal; ``write`` prints a line above them.

    Thread-safe: downloads report progress from the thread that fetches ahead while the run logs from its own.
    """

    def __init__(self, stream: TextIO, clock: Callable[[], float] = time.monotonic) -> None:
        self.stream = stream
        self.lines: list[str] = []
        self._drawn = 0
        self._clock = clock
        self._last_draw = float("-inf")
        self._lock = threading.RLock()

    def write(self, text: str) -> None:
        with self._lock:
            self._erase()
            self.stream.write(text + "\n")
            self._draw()

    def set(self, lines: list[str], *, force: bool = False) -> None:
        with self._lock:
            self.lines = lines
            now = self._clock()
            if force or now - self._last_draw >= REDRAW_EVERY:
                self._erase()
                self._draw()
                self._last_draw = now

    def clear(self) -> None:
        with self._lock:
            self.lines = []
            self._erase()
            self.stream.flush()

    def _erase(self) -> None:
        if self._drawn:
            # up to the block's first line, then clear to the end of the screen
            self.stream.write(f"\x1b[{self._drawn}F\x1b[J")
            self._drawn = 0

    def _draw(self) -> None:
        for line in self.lines:
            self.stream.write(REDACTOR.redact(line) + "\n")
        self._drawn = len(self.lines)
        self.stream.flush()


class _LiveHandler(logging.Handler):
    def __init__(self, block: LiveBlock) -> None:
        super().__init__()
        self.block = block

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.block.write(self.format(record))
        except Exception:  # noqa: BLE001 - logging must never break the run
            self.handleError(record)


class Reporter:
    """Installs the run's log handlers and turns progress callbacks into live lines or log records."""

    def __init__(
        self,
        mode: Mode,
        stream: TextIO | None = None,
        *,
        verbose: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.mode = mode
        self.stream = stream or sys.stderr
        self.verbose = verbose
        self._clock = clock
        self.block = LiveBlock(self.stream, clock) if mode == "live" else None
        self.kinds: dict[str, _Kind] = {}
        self.step_line = ""
        self._saved: list[tuple[logging.Logger, list[logging.Handler], int, bool]] = []
        self.handler = self._make_handler()

    # -- logging setup -----------------------------------------------------------------------------------------

    def _make_handler(self) -> logging.Handler:
        if self.block is not None:
            handler: logging.Handler = _LiveHandler(self.block)
            handler.setFormatter(LiveFormatter())
        else:
            handler = logging.StreamHandler(self.stream)
            handler.setFormatter(JsonFormatter() if self.mode == "json" else TextFormatter())
        handler.setLevel(logging.DEBUG if self.verbose else logging.INFO)
        handler.addFilter(RedactingFilter())
        handler.addFilter(_DropExpected())
        return handler

    def install(self) -> Reporter:
        root = logging.getLogger()
        self._save(root)
        root.handlers = [self.handler]
        root.setLevel(logging.WARNING)
        for name in OUR_LOGGERS:
            logger = logging.getLogger(name)
            self._save(logger)
            logger.handlers = []
            logger.propagate = True
            quiet = name in CHATTY_LOGGERS and not self.verbose
            logger.setLevel(logging.DEBUG if self.verbose else logging.WARNING if quiet else logging.INFO)
        for name in QUIET_LOGGERS:
            logger = logging.getLogger(name)
            self._save(logger)
            logger.setLevel(logging.WARNING)
        dlt_logger = logging.getLogger("dlt")
        self._save(dlt_logger)
        forward = _Forward(self.handler)
        forward.addFilter(RedactingFilter())
        dlt_logger.handlers = [forward]  # dlt reuses the first handler it finds and only changes its formatter
        dlt_logger.propagate = False
        logging.captureWarnings(True)
        return self

    def _save(self, logger: logging.Logger) -> None:
        self._saved.append((logger, list(logger.handlers), logger.level, logger.propagate))

    def uninstall(self) -> None:
        self.close_block()
        logging.captureWarnings(False)
        for logger, handlers, level, propagate in reversed(self._saved):
            logger.handlers = handlers
            logger.setLevel(level)
            logger.propagate = propagate
        self._saved.clear()

    def __enter__(self) -> Reporter:
        return self.install()

    def __exit__(self, *exc: object) -> None:
        self.uninstall()

    # -- progress --------------------------------------------------------------------------------------------------

    def event(self, message: str, *args: Any, level: int = logging.INFO, **fields: Any) -> None:
        """A log record with structured fields (JSON lines carry them as keys)."""
        log.log(level, message, *args, extra={"smw": fields})

    def step(self, name: str, text: str) -> None:
        """A step starts: on a terminal it shows under the progress block; otherwise one log line."""
        self.step_line = text
        if self.block is not None:
            self._redraw(force=True)
        else:
            self.event("%s", text, event="step", step=name)

    def status_line(self, text: str) -> None:
        """Live only: what is happening right now (e.g. the model being built); not logged."""
        if self.block is not None:
            self.step_line = text
            self._redraw()

    def start_downloads(self, kinds: list[str]) -> None:
        self.kinds = {k: _Kind() for k in kinds}
        if self.block is not None:
            self._redraw(force=True)

    def download(self, progress: DownloadProgress) -> None:
        """The ``on_progress`` callback of the download scheduler."""
        state = self.kinds.setdefault(progress.kind, _Kind())
        state.pages, state.rows = progress.pages, progress.rows
        if progress.event == "started":
            state.state, state.waited = "starting", 0.0
        elif progress.event == "waiting":
            state.state, state.waited = "waiting", progress.waited
        else:
            state.state = progress.event  # page, done
        if self.block is not None:
            self._redraw(force=progress.event in ("done", "started"))
            return
        fields = {"event": f"download_{progress.event}", "kind": progress.kind, "pages": progress.pages}
        if progress.event == "page":
            self.event(
                "%s: page %d downloaded, %s rows so far",
                progress.kind,
                progress.pages,
                f"{progress.rows:,}",
                rows=progress.rows,
                **fields,
            )
        elif progress.event == "done":
            self.event(
                "%s: downloaded, %s rows in %d page(s)",
                progress.kind,
                f"{progress.rows:,}",
                progress.pages,
                rows=progress.rows,
                **fields,
            )
        elif progress.event == "waiting":
            now = self._clock()
            if progress.waited >= WAITING_LOG_EVERY and now - state.last_wait_logged >= WAITING_LOG_EVERY:
                state.last_wait_logged = now
                self.event(
                    "%s: waiting for serviceminder to prepare page %d (%.0fs so far)",
                    progress.kind,
                    progress.pages + 1,
                    progress.waited,
                    waited=round(progress.waited, 1),
                    **fields,
                )
        else:
            self.event(
                "%s: download of page %d started", progress.kind, progress.pages + 1, level=logging.DEBUG, **fields
            )

    def finish_downloads(self) -> None:
        self.kinds = {}
        if self.block is not None:
            self._redraw(force=True)

    def close_block(self) -> None:
        if self.block is not None:
            self.block.clear()

    def _redraw(self, force: bool = False) -> None:
        assert self.block is not None
        lines = []
        if self.kinds:
            width = max(len(k) for k in self.kinds)
            for kind, s in self.kinds.items():
                lines.append(f"  {kind:<{width}}  {_describe(s)}")
        if self.step_line:
            lines.append(self.step_line)
        self.block.set(lines, force=force)


def _describe(s: _Kind) -> str:
    rows = f"{s.rows:>10,} rows"
    pages = f"{s.pages} page" + ("" if s.pages == 1 else "s")
    if s.state == "done":
        return f"done       {rows}  in {pages}"
    if s.state == "queued":
        return "queued"
    if s.state == "waiting":
        return f"page {s.pages + 1:<5} {rows}  waiting for serviceminder {s.waited:.0f}s"
    if s.state == "starting":
        return f"page {s.pages + 1:<5} {rows}  starting the download"
    return f"page {s.pages:<5} {rows}  downloaded"
