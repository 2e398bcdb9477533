"""The one HTTP client for serviceminder: POST JSON, ResultCode errors, retries with backoff, key redaction.

Every other module talks to serviceminder through ``ServiceminderClient``; nothing else builds an HTTP request.
The contract (shared/reference/serviceminder-api.md §1): every call is a POST with the key in the JSON body, errors
come back as HTTP 200 with a non-zero ``ResultCode``, an unknown path answers an empty 200, and responses echo the
request body, key included.
"""

from __future__ import annotations

import email.utils
import json
import logging
import random
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from pipelines.serviceminder.kinds import AUTH_ERROR_CODES, DEFAULT_BASE_URL
from pipelines.serviceminder.redaction import REDACTOR, strip_api_key

log = logging.getLogger(__name__)

API_KEY_SETTING = "SOURCES__SERVICEMINDER__API_KEY"
BASE_URL_SETTING = "SOURCES__SERVICEMINDER__BASE_URL"
RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})
_CHUNK = 1 << 20
DEFAULT_TIMEOUT = httpx.Timeout(60.0, connect=10.0)


class ServiceminderError(Exception):
    """Base class: every failure talking to serviceminder. Messages never contain the API key."""

    def __init__(self, message: str) -> None:
        super().__init__(REDACTOR.redact(message))


class ConfigurationError(ServiceminderError):
    """The client is set up wrong: no key, or a base URL or path that serviceminder does not serve."""


class EndpointNotFoundError(ConfigurationError):
    """serviceminder answered an empty HTTP 200, which is how it answers a path it does not know."""


class AuthenticationError(ServiceminderError):
    """serviceminder rejected the API key."""


class ApiError(ServiceminderError):
    """serviceminder answered with a non-zero ResultCode, or an HTTP error that is not worth retrying."""

    def __init__(self, message: str, *, path: str, code: int | None = None, api_message: str = "") -> None:
        super().__init__(message)
        self.path = path
        self.code = code
        self.api_message = REDACTOR.redact(api_message)


class RetriesExhaustedError(ServiceminderError):
    """A transient failure (429, 5xx, dropped connection, time-out) persisted through every attempt."""


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter: attempt n waits about ``base_delay * 2**(n-1)``, capped at ``max_delay``."""

    max_attempts: int = 6
    base_delay: float = 0.5
    max_delay: float = 30.0
    max_retry_after: float = 300.0  # a Retry-After longer than this is capped, so one answer can't stall a night

    def backoff(self, attempt: int, rng: random.Random) -> float:
        ceiling = min(self.max_delay, self.base_delay * 2 ** (attempt - 1))
        return ceiling / 2 + rng.uniform(0, ceiling / 2)  # "equal jitter": never zero, never above the cap


class _Transient(Exception):
    """Internal: one attempt failed in a way worth retrying."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


class ServiceminderClient:
    """Talks to one serviceminder base URL with one API key.

    ``sleep`` and ``rng`` are injectable so tests never wait; ``timeout`` is seconds or an ``httpx.Timeout``.
    """

    def __init__(
        self,
        api_key: str,
        base_url: str = DEFAULT_BASE_URL,
        *,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        retry: RetryPolicy = RetryPolicy(),
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        transport: httpx.BaseTransport | None = None,
        download_dir: Path | None = None,
    ) -> None:
        if not api_key or not api_key.strip():
            raise ConfigurationError(
                f"no serviceminder API key: set {API_KEY_SETTING} or api_key under [sources.serviceminder] "
                "in .dlt/secrets.toml"
            )
        REDACTOR.register(api_key)
        self._api_key = api_key
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self.retry = retry
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._download_dir = download_dir
        self._http = httpx.Client(
            timeout=timeout,
            transport=transport,
            headers={"Content-Type": "application/json", "Accept": "application/json, text/csv"},
        )

    def __repr__(self) -> str:
        return f"ServiceminderClient(base_url={self.base_url!r}, api_key='{'***'}')"

    def __enter__(self) -> ServiceminderClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def call(self, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        """POST ``body`` (plus the key) to ``path`` and return the JSON response without ``ApiKey``."""

        def attempt() -> dict[str, Any]:
            with self._send(path, body) as response:
                raw = response.read()
            return self._parse_json(path, raw)

        return self._with_retries(path, attempt)

    def download(self, path: str, body: dict[str, Any] | None = None) -> Path:
        """POST and stream the response body to a temporary file, returning its path.

        The body is the CSV itself (``text/csv``) or, as the contract also allows, a JSON object whose ``Data``
        field holds the CSV text. A JSON body with a non-zero ResultCode raises like ``call``. The caller owns the
        file and deletes it when done.
        """

        def attempt() -> Path:
            with self._send(path, body) as response:
                content_type = response.headers.get("content-type", "")
                if "json" in content_type:
                    parsed = self._parse_json(path, response.read())
                    data = parsed.get("Data")
                    if not isinstance(data, str):
                        raise ApiError(
                            f"serviceminder answered {path} with JSON but no CSV in its 'Data' field",
                            path=path,
                        )
                    return self._write_temp(iter([data.encode("utf-8")]))
                target = self._write_temp(response.iter_bytes(_CHUNK))
                if target.stat().st_size == 0:
                    target.unlink()
                    raise self._not_found(path)
                return target

        return self._with_retries(path, attempt)

    # -- internals -------------------------------------------------------------------------------------------

    @contextmanager
    def _send(self, path: str, body: dict[str, Any] | None) -> Iterator[httpx.Response]:
        url = self.base_url + path.lstrip("/")
        payload = {**(body or {}), "ApiKey": self._api_key}
        try:
            with self._http.stream("POST", url, content=json.dumps(payload).encode("utf-8")) as response:
                if response.status_code in RETRYABLE_STATUS:
                    raise _Transient(f"HTTP {response.status_code}", _retry_after(response))
                if response.status_code >= 400:
                    raise ApiError(
                        f"serviceminder answered HTTP {response.status_code} to {path}; "
                        f"check {BASE_URL_SETTING} (now {self.base_url})",
                        path=path,
                    )
                yield response
        except (httpx.TransportError, httpx.StreamError) as exc:
            # connection refused/reset, read time-outs and bodies cut off mid-transfer
            raise _Transient(type(exc).__name__) from None

    def _with_retries(self, path: str, attempt: Callable[[], Any]) -> Any:
        last_reason = ""
        for number in range(1, self.retry.max_attempts + 1):
            try:
                return attempt()
            except _Transient as transient:
                last_reason = transient.reason
                if number == self.retry.max_attempts:
                    break
                delay = self.retry.backoff(number, self._rng)
                if transient.retry_after is not None:
                    delay = max(delay, min(transient.retry_after, self.retry.max_retry_after))
                log.warning(
                    "serviceminder %s failed (%s); retry %d of %d in %.1f s",
                    path,
                    transient.reason,
                    number,
                    self.retry.max_attempts - 1,
                    delay,
                )
                self._sleep(delay)
        raise RetriesExhaustedError(
            f"serviceminder did not answer {path} after {self.retry.max_attempts} attempts "
            f"(last: {last_reason}); it may be down or rate-limiting, so try again later"
        )

    def _parse_json(self, path: str, raw: bytes) -> dict[str, Any]:
        if not raw.strip():
            raise self._not_found(path)
        try:
            parsed = json.loads(raw)
        except ValueError:
            raise ApiError(f"serviceminder answered {path} with a body that is not JSON", path=path) from None
        if not isinstance(parsed, dict):
            raise ApiError(f"serviceminder answered {path} with JSON that is not an object", path=path)
        parsed = strip_api_key(parsed)
        code = parsed.get("ResultCode", 0)
        if code not in (0, None):
            message = REDACTOR.redact(str(parsed.get("Message") or ""))
            if _int_or_none(code) in AUTH_ERROR_CODES or "api key" in message.lower():
                raise AuthenticationError(
                    f"serviceminder rejected the API key (ResultCode {code}: {message}): "
                    f"check {API_KEY_SETTING} or api_key under [sources.serviceminder] in .dlt/secrets.toml"
                )
            raise ApiError(
                f"serviceminder answered {path} with ResultCode {code}: {message or 'no message'}",
                path=path,
                code=_int_or_none(code),
                api_message=message,
            )
        return parsed

    def _not_found(self, path: str) -> EndpointNotFoundError:
        return EndpointNotFoundError(
            f"endpoint not found: serviceminder answered {path} with an empty body, which is how it answers "
            f"an unknown path; check {BASE_URL_SETTING} (now {self.base_url}) and the API paths"
        )

    def _write_temp(self, chunks: Iterator[bytes]) -> Path:
        with tempfile.NamedTemporaryFile(
            "wb", prefix="serviceminder-", suffix=".csv", dir=self._download_dir, delete=False
        ) as handle:
            try:
                for chunk in chunks:
                    handle.write(chunk)
            except BaseException:
                handle.close()
                Path(handle.name).unlink(missing_ok=True)
                raise
        return Path(handle.name)


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def client_from_config(**overrides: Any) -> ServiceminderClient:
    """Build a client from dlt configuration: env vars, then ``.dlt/secrets.toml`` and ``.dlt/config.toml``."""
    import dlt

    api_key = dlt.secrets.get("sources.serviceminder.api_key")
    base_url = dlt.config.get("sources.serviceminder.base_url") or DEFAULT_BASE_URL
    return ServiceminderClient(str(api_key or ""), str(base_url), **overrides)
