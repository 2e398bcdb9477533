"""The sandbox server: a local stand-in for serviceminder that speaks the whole API contract over loopback HTTP.

It serves a deterministic synthetic brand (``brand.py``) as the contract describes (shared/reference/
serviceminder-api.md): brand-level downloads and the event feed under ``datasubscriber/``, organization-level
downloads under ``download/``, errors as HTTP 200 with a non-zero ``ResultCode``, the request body (``ApiKey``
included) echoed in every JSON answer, and an empty HTTP 200 for unknown paths. ``faults.py`` decides which requests
meet a 429, a 5xx, a dropped connection or a truncated CSV body.

A download's content is fixed when it starts: its rows are selected at once (a snapshot), rendered to CSV bytes on a
background thread while the preparation delay runs, and those bytes are what ``getdownload`` sends (with a
Content-Length), however many times it is asked.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import socket
import socketserver
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from pipelines.sandbox.brand import Brand, Deletion
from pipelines.sandbox.csv_format import render_csv
from pipelines.sandbox.faults import DROP, OK, RATE_LIMITED, RATE_LIMITED_RETRY_AFTER, TRUNCATE, Faults
from pipelines.sandbox.feed_queue import FeedQueue
from pipelines.serviceminder.kinds import ALL_KINDS, BRAND_PATHS, DEFAULT_PAGE_SIZE, ORG_PATHS, Kind

log = logging.getLogger(__name__)

# ResultCodes. 3 for a bad key is the contract's; the others are this sandbox's own choice (the real ones are unknown).
RC_OK = 0
RC_BAD_REQUEST = 2
RC_INVALID_KEY = 3
RC_WRONG_KEY_LEVEL = 4
RC_UNKNOWN_KIND = 5
RC_USERID_REQUIRED = 6
RC_UNKNOWN_DOWNLOAD = 7
RC_NOT_READY = 8
RC_DOWNLOAD_FAILED = 9

DEFAULT_EVENT_COUNT = 500
BOM = b"\xef\xbb\xbf"

_BRAND, _ORG = "brand", "org"
_ROUTES: dict[str, tuple[str, str]] = {
    BRAND_PATHS.start_download: (_BRAND, "start"),
    BRAND_PATHS.download_status: (_BRAND, "status"),
    BRAND_PATHS.get_download: (_BRAND, "get"),
    str(BRAND_PATHS.fetch): (_BRAND, "fetch"),
    str(BRAND_PATHS.clear): (_BRAND, "clear"),
    ORG_PATHS.start_download: (_ORG, "start"),
    ORG_PATHS.download_status: (_ORG, "status"),
    ORG_PATHS.get_download: (_ORG, "get"),
}
_KINDS_BY_TOKEN = {
    _BRAND: {k.brand_token: k for k in ALL_KINDS},
    _ORG: {k.org_token: k for k in ALL_KINDS},
}
_DATE = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})")
_RECORD_START = re.compile(rb"\r\n\d+,")
_INTEGER = re.compile(r"\s*-?\d+\s*")

JSON_TYPE = "application/json; charset=utf-8"
CSV_TYPE = "text/csv; charset=utf-8"
_REASONS = {
    "429": b"Too Many Requests",
    "500": b"<html><body><h1>500 Internal Server Error</h1></body></html>",
    "502": b"<html><body><h1>502 Bad Gateway</h1></body></html>",
    "503": b"<html><body><h1>503 Service Unavailable</h1></body></html>",
    "504": b"<html><body><h1>504 Gateway Time-out</h1></body></html>",
}


@dataclass
class Truth:
    """The sandbox's current state: every live record and every hard delete so far."""

    live: dict[str, dict[int, dict[str, Any]]]  # kind_key -> id -> typed record (copy)
    deletions: list[Deletion]

    def deleted_ids(self, kind_key: str) -> set[int]:
        return {d.entity_id for d in self.deletions if d.kind_key == kind_key}


class _ApiError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class _Download:
    download_id: str
    owner: int | None  # None: the brand key; otherwise the organization of the org key that started it
    kind: Kind
    started_at: float
    slow_polls_left: int
    csv: bytes = b""
    failure: str | None = None  # why rendering failed
    rendered: threading.Event = field(default_factory=threading.Event)
    served: bool = False


@dataclass
class _Reply:
    body: bytes
    status: int = 200
    content_type: str | None = JSON_TYPE
    headers: list[tuple[str, str]] = field(default_factory=list)
    on_sent: Callable[[], None] | None = None


@dataclass
class _CsvAnswer:
    """A ready getdownload: the CSV, and what is needed to send it as text/csv or wrapped in JSON."""

    download: _Download
    echo: dict[str, Any]


class Sandbox:
    """A serviceminder stand-in on loopback. Use as a context manager, or ``start()`` / ``stop()``."""

    max_cached_bytes: int = 1 << 30  # above this, downloads already served in full are forgotten, oldest first

    def __init__(
        self,
        *,
        api_key: str = "sandbox-key",
        seed: int = 1,
        appointments: int = 2_000,
        today: date | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
        prep_delay: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
        faults: Faults | None = None,
        org_keys: dict[str, int] | None = None,
        csv_as_json: bool = False,
        host: str = "127.0.0.1",
        port: int = 0,
        brand: Brand | None = None,  # a ready-made brand to serve (seed/appointments/today are then not used)
    ) -> None:
        if not api_key:
            raise ValueError("api_key must not be empty")
        if page_size < 1:
            raise ValueError(f"page_size must be 1 or more; got {page_size}")
        if prep_delay < 0:
            raise ValueError(f"prep_delay must be 0 or more seconds; got {prep_delay}")
        self.brand: Brand = brand if brand is not None else Brand(seed, appointments, today)
        org_keys = dict(org_keys or {})
        known_orgs = {org_id for org_id, _ in self.brand.organizations}
        if api_key in org_keys:
            raise ValueError("an organization key must differ from the brand key")
        unknown = sorted(org_id for org_id in org_keys.values() if org_id not in known_orgs)
        if unknown:
            raise ValueError(f"org_keys name organization ids the brand does not have: {unknown}")
        self._api_key = api_key
        self._org_keys = org_keys
        self.page_size = page_size
        self.prep_delay = prep_delay
        self.csv_as_json = csv_as_json
        self.faults = faults if faults is not None else Faults()
        self.feed = FeedQueue()
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self.fault_log: list[tuple[str, str]] = []  # (path, outcome) of every request that met a fault
        self.malformed: dict[str, set[int]] = {}
        self.extra_columns: dict[str, dict[str, str]] = {}
        self.missing_columns: dict[str, set[str]] = {}
        self._clock = clock
        self._host = host
        self._port = port
        self._state_lock = threading.RLock()  # the brand: selects, day advances, truth
        self._downloads_lock = threading.Lock()
        self._log_lock = threading.Lock()
        self._downloads: dict[str, _Download] = {}
        self._cached_bytes = 0
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._renderer: ThreadPoolExecutor | None = None

    # -- lifecycle ------------------------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("the sandbox is not running; call start() first")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/api/"

    def start(self) -> str:
        if self._server is None:
            # One render thread: rendering is pure Python, so more threads would only contend for the GIL.
            self._renderer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sandbox-render")
            self._server = _Server((self._host, self._port), self)
            self._thread = threading.Thread(
                target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="sandbox-server", daemon=True
            )
            self._thread.start()
        return self.base_url

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is None:
            return
        server.shutdown()
        if self._renderer is not None:
            self._renderer.shutdown(wait=True, cancel_futures=True)
        with self._downloads_lock:
            for download in self._downloads.values():
                if not download.rendered.is_set():  # cancelled: release any handler waiting for it
                    download.failure = "the sandbox stopped before the download was prepared"
                    download.rendered.set()
        server.close_connections()
        server.server_close()
        if thread is not None:
            thread.join(timeout=5)
        self._server = self._thread = self._renderer = None

    def __enter__(self) -> Sandbox:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = self.base_url if self._server is not None else "stopped"
        return f"<Sandbox {state} today={self.today} page_size={self.page_size}>"

    # -- the simulated brand -----------------------------------------------------------------------------------------

    @property
    def today(self) -> date:
        return self.brand.today

    def advance_days(self, n: int = 1) -> None:
        """Simulate ``n`` business days; each day's events go into the feed queue."""
        with self._state_lock:
            for _ in range(n):
                self.feed.enqueue(self.brand.advance_day())

    def truth(self) -> Truth:
        with self._state_lock:
            live = {k.key: self.brand.live(k.key) for k in ALL_KINDS}  # Brand.live builds fresh dicts
            return Truth(live=live, deletions=list(self.brand.deletions))

    # -- request handling ------------------------------------------------------------------------------------------

    def handle(self, raw_path: str, raw_body: bytes) -> _Reply | None:
        """Answer one POST. ``None`` means: drop the connection without a response."""
        route = _route_of(raw_path)
        body = _parse_body(raw_body)
        self._log_request(route, body)
        target = _ROUTES.get(route)
        if target is None:
            outcome = self.faults.decide(truncatable=False)
            return self._fault_reply(route, outcome) if outcome != OK else _Reply(b"", content_type=None)
        level, action = target
        if action == "get":
            # getdownload changes nothing, so the answer can be worked out before the fault is chosen.
            answer = self._dispatch(level, action, body)
            outcome = self.faults.decide(truncatable=isinstance(answer, _CsvAnswer))
        else:
            outcome = self.faults.decide(truncatable=False)
            answer = self._dispatch(level, action, body) if outcome == OK else None
        if outcome not in (OK, TRUNCATE):
            return self._fault_reply(route, outcome)
        if isinstance(answer, _CsvAnswer):
            if outcome == TRUNCATE:
                self._note_fault(route, outcome)
            return self._csv_reply(answer, truncated=outcome == TRUNCATE)
        assert isinstance(answer, _Reply)
        return answer

    def _dispatch(self, level: str, action: str, body: dict[str, Any] | None) -> _Reply | _CsvAnswer:
        echo = dict(body) if body is not None else {}
        try:
            if body is None:
                raise _ApiError(RC_BAD_REQUEST, "The request body must be a JSON object with ApiKey")
            owner = self._authorize(level, body)
            if action == "start":
                fields = self._start(level, owner, body)
            elif action == "status":
                fields = self._status(owner, body)
            elif action == "get":
                download = self._ready_download(owner, body)
                return _CsvAnswer(download, echo)
            elif action == "fetch":
                return self._fetch(body, echo)
            else:
                fields = self._clear(body)
        except _ApiError as exc:
            return _json_reply({**echo, "ResultCode": exc.code, "Message": exc.message})
        return _json_reply({**echo, "ResultCode": RC_OK, "Message": "", **fields})

    def _authorize(self, level: str, body: dict[str, Any]) -> int | None:
        key = body.get("ApiKey")
        if not isinstance(key, str) or not key:
            raise _ApiError(RC_INVALID_KEY, "Invalid API key")
        if key == self._api_key:
            if level == _ORG:
                raise _ApiError(
                    RC_WRONG_KEY_LEVEL,
                    "This is a brand-level Data Subscriber key: use the datasubscriber/ paths "
                    "(download/ is for organization keys)",
                )
            return None
        if key in self._org_keys:
            if level == _BRAND:
                raise _ApiError(
                    RC_WRONG_KEY_LEVEL,
                    "This is an organization key: use the download/ paths with bare kind names and a UserId "
                    "(organization keys have no event feed)",
                )
            return self._org_keys[key]
        raise _ApiError(RC_INVALID_KEY, "Invalid API key")

    def _start(self, level: str, owner: int | None, body: dict[str, Any]) -> dict[str, Any]:
        if level == _ORG and body.get("UserId") in (None, ""):
            raise _ApiError(RC_USERID_REQUIRED, "UserId is required")
        kind = _kind_of(level, body.get("Kind"))
        filters = {
            "created_from": _date_field(body, "CreatedFrom"),
            "created_through": _date_field(body, "CreatedThrough"),
            "updated_from": _date_field(body, "UpdatedFrom"),
            "updated_through": _date_field(body, "UpdatedThrough"),
        }
        row_id = _int_field(body, "RowId", default=0)
        with self._state_lock:
            # Brand.select builds fresh dicts, so these rows are a snapshot that later days do not touch.
            rows = self.brand.select(kind.key, organization_id=owner, row_id=row_id, limit=self.page_size, **filters)
        options = {
            "extra_columns": dict(self.extra_columns.get(kind.key) or {}) or None,
            "missing_columns": tuple(self.missing_columns.get(kind.key) or ()),
            "malformed_ids": frozenset(self.malformed.get(kind.key) or ()),
        }
        download = _Download(
            download_id=str(uuid.uuid4()),
            owner=owner,
            kind=kind,
            started_at=self._clock(),
            slow_polls_left=self.faults.slow_ready_polls,
        )
        with self._downloads_lock:
            self._downloads[download.download_id] = download
        assert self._renderer is not None
        self._renderer.submit(self._render, download, rows, options)
        return {"DownloadId": download.download_id}

    def _render(self, download: _Download, rows: list[dict[str, Any]], options: dict[str, Any]) -> None:
        try:
            csv = render_csv(download.kind, rows, **options)
        except Exception as exc:
            log.exception("sandbox: rendering a %s download failed", download.kind.key)
            download.failure = f"{type(exc).__name__}: {exc}"
        else:
            with self._downloads_lock:
                download.csv = csv
                self._cached_bytes += len(csv)
                self._evict_locked()
        finally:
            download.rendered.set()

    def _status(self, owner: int | None, body: dict[str, Any]) -> dict[str, Any]:
        download = self._find_download(owner, body)
        with self._downloads_lock:
            ready = self._clock() - download.started_at >= self.prep_delay
            if ready and download.slow_polls_left > 0:
                download.slow_polls_left -= 1
                ready = False
        if ready:
            self._wait_rendered(download)
        return {"DownloadId": download.download_id, "Ready": ready}

    def _ready_download(self, owner: int | None, body: dict[str, Any]) -> _Download:
        download = self._find_download(owner, body)
        with self._downloads_lock:
            ready = self._clock() - download.started_at >= self.prep_delay and download.slow_polls_left == 0
        if not ready:
            raise _ApiError(RC_NOT_READY, "Download is not ready; poll downloadstatus until Ready is true")
        self._wait_rendered(download)
        return download

    @staticmethod
    def _wait_rendered(download: _Download) -> None:
        # Readiness follows the (injectable) clock alone, so tests see the same answers however fast rendering is:
        # once the clock says ready, the answer waits for the render instead of saying "not ready".
        download.rendered.wait()
        if download.failure is not None:
            raise _ApiError(RC_DOWNLOAD_FAILED, f"Download failed ({download.failure}); start it again")

    def _find_download(self, owner: int | None, body: dict[str, Any]) -> _Download:
        value = body.get("DownloadId")
        if value in (None, "") or isinstance(value, bool | dict | list):
            raise _ApiError(RC_BAD_REQUEST, "DownloadId is required; use the one startdownload returned")
        with self._downloads_lock:
            download = self._downloads.get(str(value))
        if download is None or download.owner != owner:
            raise _ApiError(RC_UNKNOWN_DOWNLOAD, f"Unknown DownloadId {value!r}; start the download again")
        return download

    def _fetch(self, body: dict[str, Any], echo: dict[str, Any]) -> _Reply:
        count = _int_field(body, "EventCount", default=DEFAULT_EVENT_COUNT, minimum=1)
        clear_through = _int_field(body, "ClearThroughId", default=None)
        events = self.feed.fetch(count, clear_through)
        highest = events[-1]["Id"] if events else (clear_through or 0)
        reply = _json_reply(
            {
                **echo,
                "ResultCode": RC_OK,
                "Message": "",
                "EventCount": len(events),
                "ClearThroughId": highest,
                "Events": events,
            }
        )
        self.feed.run_after_fetch_callbacks()
        return reply

    def _clear(self, body: dict[str, Any]) -> dict[str, Any]:
        through = _int_field(body, "ClearThroughId", default=None)
        if through is None:
            raise _ApiError(RC_BAD_REQUEST, "ClearThroughId is required: the highest event Id you have stored")
        self.feed.clear(through)
        return {}

    def _csv_reply(self, answer: _CsvAnswer, *, truncated: bool) -> _Reply:
        download = answer.download
        csv = truncate_csv(download.csv) if truncated else download.csv
        on_sent = None if truncated else (lambda: self._mark_served(download))
        if self.csv_as_json:
            text = csv.removeprefix(BOM).decode("utf-8")
            data = {**answer.echo, "ResultCode": RC_OK, "Message": "", "Data": text}
            return _Reply(_json_bytes(data), on_sent=on_sent)
        return _Reply(csv, content_type=CSV_TYPE, on_sent=on_sent)

    def _fault_reply(self, route: str, outcome: str) -> _Reply | None:
        self._note_fault(route, outcome)
        if outcome == DROP:
            return None
        if outcome in (RATE_LIMITED, RATE_LIMITED_RETRY_AFTER):
            headers = [("Retry-After", str(self.faults.retry_after))] if outcome == RATE_LIMITED_RETRY_AFTER else []
            return _Reply(_REASONS["429"], status=429, content_type="text/plain", headers=headers)
        return _Reply(_REASONS[outcome], status=int(outcome), content_type="text/html")

    def _mark_served(self, download: _Download) -> None:
        with self._downloads_lock:
            download.served = True
            self._evict_locked()

    def _evict_locked(self) -> None:
        if self._cached_bytes <= self.max_cached_bytes:
            return
        for download_id, download in list(self._downloads.items()):
            if self._cached_bytes <= self.max_cached_bytes:
                break
            if download.served and download.csv:
                del self._downloads[download_id]
                self._cached_bytes -= len(download.csv)

    def _log_request(self, route: str, body: dict[str, Any] | None) -> None:
        logged = {k: v for k, v in (body or {}).items() if k.lower() != "apikey"}
        with self._log_lock:
            self.requests.append((route, logged))

    def _note_fault(self, route: str, outcome: str) -> None:
        with self._log_lock:
            self.fault_log.append((route, outcome))


def truncate_csv(csv: bytes) -> bytes:
    """Cut a CSV body off inside a record, about halfway: the result never ends with a line break or inside a UTF-8
    character, so it is a well-formed short body that only a CSV-level check can tell apart from a whole one."""
    start = len(BOM) if csv.startswith(BOM) else 0
    if len(csv) - start < 2:
        return csv[:start]
    middle = start + (len(csv) - start) // 2
    # Prefer one byte into the second field of a record (a digit of an id in every kind), so the record is short.
    match = _RECORD_START.search(csv, middle) or _RECORD_START.search(csv, start)
    cut = match.end() + 1 if match and match.end() + 1 < len(csv) else max(middle, start + 1)
    while cut > start + 1 and (csv[cut - 1] in b"\r\n" or 0x80 <= csv[cut] < 0xC0):
        cut -= 1
    return csv[:cut]


def _route_of(raw_path: str) -> str:
    path = urlsplit(raw_path).path.strip("/").lower()
    return path.removeprefix("api/")


def _parse_body(raw: bytes) -> dict[str, Any] | None:
    try:
        body = json.loads(raw.decode("utf-8-sig")) if raw else None
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    return body if isinstance(body, dict) else None


def _kind_of(level: str, token: Any) -> Kind:
    kinds = _KINDS_BY_TOKEN[level]
    if isinstance(token, str) and token in kinds:
        return kinds[token]
    names = ", ".join(kinds)
    if token in (None, ""):
        raise _ApiError(RC_UNKNOWN_KIND, f"Kind is required; use one of {names}")
    raise _ApiError(RC_UNKNOWN_KIND, f"Unknown Kind {token!r}; use one of {names}")


def _date_field(body: dict[str, Any], name: str) -> date | None:
    value = body.get(name)
    if value in (None, ""):
        return None
    match = _DATE.fullmatch(value.strip()) if isinstance(value, str) else None
    if match:
        try:
            return date(int(match[1]), int(match[2]), int(match[3]))
        except ValueError:
            pass
    raise _ApiError(RC_BAD_REQUEST, f"{name} must be a date like 2022-5-1 (year-month-day); got {value!r}")


def _int_field(body: dict[str, Any], name: str, *, default: int | None, minimum: int = 0) -> int | None:
    value = body.get(name)
    if value in (None, ""):
        return default
    number: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif (isinstance(value, float) and value.is_integer()) or (isinstance(value, str) and _INTEGER.fullmatch(value)):
        number = int(value)
    if number is None:
        raise _ApiError(RC_BAD_REQUEST, f"{name} must be a whole number; got {value!r}")
    if number < minimum:
        raise _ApiError(RC_BAD_REQUEST, f"{name} must be {minimum} or more; got {number}")
    return number


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime):
        return f"{value.year}-{value.month}-{value.day} {value:%H:%M:%S}"
    if isinstance(value, date):
        return f"{value.year}-{value.month}-{value.day}"
    raise TypeError(f"cannot send {type(value).__name__} in JSON")


def _json_bytes(data: dict[str, Any]) -> bytes:
    return json.dumps(data, default=_json_default).encode("utf-8")


def _json_reply(data: dict[str, Any]) -> _Reply:
    return _Reply(_json_bytes(data))


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, so clients can pool connections; every answer has a Content-Length
    server_version = "serviceminder-sandbox"
    disable_nagle_algorithm = True  # headers and body go out in separate writes: Nagle would add ~40 ms to each
    server: _Server

    def do_POST(self) -> None:  # noqa: N802 (the name http.server dispatches to)
        try:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length > 0 else b""
            try:
                reply = self.server.sandbox.handle(self.path, raw)
            except Exception:
                log.exception("sandbox: internal error answering %s", _route_of(self.path))
                reply = _Reply(b"sandbox internal error (see its log)", status=500, content_type="text/plain")
            if reply is None:
                self.close_connection = True  # a dropped connection: no status line, nothing at all
                return
            self.send_response(reply.status)
            if reply.content_type:
                self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(reply.body)))
            for name, value in reply.headers:
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(reply.body)
            if reply.on_sent is not None:
                reply.on_sent()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client went away mid-answer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (signature from http.server)
        pass  # request lines carry no key, but the sandbox stays quiet; Sandbox.requests records every call


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # many downloads in flight at once

    def __init__(self, address: tuple[str, int], sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind does a reverse DNS lookup (getfqdn), which can stall on a machine without DNS.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """Wake every handler thread that waits on an idle keep-alive connection, so stop() leaves nothing behind."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
