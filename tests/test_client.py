"""The serviceminder client against the sandbox over loopback: every error path, retries, and the key never leaking."""

from __future__ import annotations

import logging
import random
import socket
import threading
from collections.abc import Iterator

import httpx
import pytest

from pipelines.sandbox import Sandbox
from pipelines.serviceminder.client import (
    ApiError,
    AuthenticationError,
    ConfigurationError,
    EndpointNotFoundError,
    RetriesExhaustedError,
    RetryPolicy,
    ServiceminderClient,
    ServiceminderError,
    client_from_config,
)
from pipelines.serviceminder.kinds import BRAND_PATHS
from tests.fakes import FakeClock

KEY = "sm-test-key-7f3a9c"


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(api_key=KEY, seed=3, appointments=300, page_size=1000) as sb:
        yield sb


@pytest.fixture(autouse=True)
def _calm(sandbox: Sandbox) -> Iterator[None]:
    sandbox.faults.script()  # nothing scripted from an earlier test
    yield
    sandbox.faults.script()


def make_client(sandbox: Sandbox, clock: FakeClock, key: str = KEY, **kwargs) -> ServiceminderClient:
    return ServiceminderClient(key, sandbox.base_url, sleep=clock.sleep, rng=random.Random(0), **kwargs)


def start_contacts(client: ServiceminderClient) -> dict:
    return client.call(BRAND_PATHS.start_download, {"Kind": "branding-contacts", "RowId": 0})


def test_a_call_returns_the_answer_without_the_echoed_key(sandbox: Sandbox, fake_clock: FakeClock) -> None:
    with make_client(sandbox, fake_clock) as client:
        answer = start_contacts(client)
    assert answer["ResultCode"] == 0
    assert answer["DownloadId"]
    assert answer["Kind"] == "branding-contacts"  # the rest of the echo stays
    assert "ApiKey" not in answer
    assert KEY not in repr(answer)


def test_a_bad_key_raises_an_authentication_error_naming_the_setting(sandbox: Sandbox, fake_clock: FakeClock) -> None:
    with make_client(sandbox, fake_clock, key="wrong-key-123") as client, pytest.raises(AuthenticationError) as err:
        start_contacts(client)
    assert "SOURCES__SERVICEMINDER__API_KEY" in str(err.value)
    assert "wrong-key-123" not in str(err.value)
    assert fake_clock.slept == []  # not retried


def test_other_result_codes_raise_an_api_error_with_code_and_message(sandbox: Sandbox, fake_clock: FakeClock) -> None:
    with make_client(sandbox, fake_clock) as client, pytest.raises(ApiError) as err:
        client.call(BRAND_PATHS.start_download, {"Kind": "branding-widgets", "RowId": 0})
    assert err.value.code not in (None, 0)
    assert err.value.api_message
    assert "branding-widgets" in str(err.value) or err.value.api_message in str(err.value)


def test_an_unknown_download_id_is_an_api_error(sandbox: Sandbox, fake_clock: FakeClock) -> None:
    with make_client(sandbox, fake_clock) as client, pytest.raises(ApiError) as err:
        client.call(BRAND_PATHS.download_status, {"DownloadId": "no-such-download"})
    assert err.value.code not in (None, 0)


def test_an_empty_200_is_endpoint_not_found_naming_path_and_base_url(sandbox: Sandbox, fake_clock: FakeClock) -> None:
    with make_client(sandbox, fake_clock) as client, pytest.raises(EndpointNotFoundError) as err:
        client.call("datasubscriber/nosuchthing", {})
    message = str(err.value)
    assert "endpoint not found" in message
    assert "datasubscriber/nosuchthing" in message
    assert sandbox.base_url in message


def test_an_empty_200_on_a_download_is_endpoint_not_found_too(sandbox: Sandbox, fake_clock: FakeClock) -> None:
    with make_client(sandbox, fake_clock) as client, pytest.raises(EndpointNotFoundError):
        client.download("download/nosuchthing", {})


@pytest.mark.parametrize("outcome", ["500", "502", "503", "504", "429", "drop"])
def test_transient_failures_are_retried(sandbox: Sandbox, fake_clock: FakeClock, outcome: str) -> None:
    sandbox.faults.script(outcome, outcome)
    with make_client(sandbox, fake_clock) as client:
        assert start_contacts(client)["ResultCode"] == 0
    assert len(fake_clock.slept) == 2


def test_retry_after_is_honoured(sandbox: Sandbox, fake_clock: FakeClock) -> None:
    sandbox.faults.script("429-retry-after")
    with make_client(sandbox, fake_clock, retry=RetryPolicy(base_delay=0.01, max_delay=0.02)) as client:
        start_contacts(client)
    assert len(fake_clock.slept) == 1
    assert fake_clock.slept[0] >= 1.0  # the sandbox asks for at least a second; backoff alone would be 0.02


def test_backoff_is_exponential_with_jitter_and_capped() -> None:
    policy = RetryPolicy(base_delay=1.0, max_delay=8.0)
    rng = random.Random(1)
    delays = [policy.backoff(attempt, rng) for attempt in range(1, 8)]
    for attempt, delay in enumerate(delays, start=1):
        ceiling = min(8.0, 2 ** (attempt - 1))
        assert ceiling / 2 <= delay <= ceiling
    assert len({round(d, 6) for d in delays}) == len(delays)  # jittered, not a fixed ladder


def test_giving_up_after_the_attempt_cap(sandbox: Sandbox, fake_clock: FakeClock) -> None:
    sandbox.faults.script(*["503"] * 3)
    with (
        make_client(sandbox, fake_clock, retry=RetryPolicy(max_attempts=3)) as client,
        pytest.raises(RetriesExhaustedError) as err,
    ):
        start_contacts(client)
    assert "after 3 attempts" in str(err.value)
    assert "HTTP 503" in str(err.value)
    assert len(fake_clock.slept) == 2


def test_read_timeouts_are_retried_then_reported(fake_clock: FakeClock) -> None:
    # a server that accepts connections and never answers
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.05)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    port = listener.getsockname()[1]
    try:
        client = ServiceminderClient(
            KEY,
            f"http://127.0.0.1:{port}/api/",
            timeout=httpx.Timeout(0.05),
            retry=RetryPolicy(max_attempts=2),
            sleep=fake_clock.sleep,
        )
        with client, pytest.raises(RetriesExhaustedError) as err:
            client.call("datasubscriber/fetch", {})
        assert "Timeout" in str(err.value)
        assert len(accepted) == 2
    finally:
        stop.set()
        thread.join()
        for conn in accepted:
            conn.close()
        listener.close()


def test_connection_refused_is_retried_then_reported(fake_clock: FakeClock) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again at once: nothing listens there
    client = ServiceminderClient(
        KEY, f"http://127.0.0.1:{port}/api/", retry=RetryPolicy(max_attempts=3), sleep=fake_clock.sleep
    )
    with client, pytest.raises(RetriesExhaustedError, match="ConnectError"):
        client.call("datasubscriber/fetch", {})
    assert len(fake_clock.slept) == 2


def _ready_download(client: ServiceminderClient, kind: str = "branding-contacts") -> str:
    download_id = client.call(BRAND_PATHS.start_download, {"Kind": kind, "RowId": 0})["DownloadId"]
    assert client.call(BRAND_PATHS.download_status, {"DownloadId": download_id})["Ready"] is True
    return download_id


def test_a_csv_download_is_streamed_to_a_file(sandbox: Sandbox, fake_clock: FakeClock, tmp_path) -> None:
    with make_client(sandbox, fake_clock, download_dir=tmp_path) as client:
        download_id = _ready_download(client)
        path = client.download(BRAND_PATHS.get_download, {"DownloadId": download_id})
    assert path.parent == tmp_path
    data = path.read_bytes()
    assert data.startswith(b"\xef\xbb\xbfId,Organization Id")
    assert data.endswith(b"\r\n")
    assert KEY.encode() not in data


def test_a_csv_inside_json_data_is_accepted(fake_clock: FakeClock, tmp_path) -> None:
    with (
        Sandbox(api_key=KEY, seed=3, appointments=100, csv_as_json=True) as sandbox,
        make_client(sandbox, fake_clock, download_dir=tmp_path) as client,
    ):
        download_id = _ready_download(client)
        path = client.download(BRAND_PATHS.get_download, {"DownloadId": download_id})
    assert path.read_bytes().lstrip(b"\xef\xbb\xbf").startswith(b"Id,Organization Id")


def test_a_download_that_is_not_ready_is_an_api_error_not_a_csv(fake_clock: FakeClock, tmp_path) -> None:
    with (
        Sandbox(api_key=KEY, seed=3, appointments=100, prep_delay=60, clock=fake_clock.now) as sandbox,
        make_client(sandbox, fake_clock, download_dir=tmp_path) as client,
    ):
        start = client.call(BRAND_PATHS.start_download, {"Kind": "branding-contacts", "RowId": 0})
        download_id = start["DownloadId"]
        assert client.call(BRAND_PATHS.download_status, {"DownloadId": download_id})["Ready"] is False
        with pytest.raises(ApiError):
            client.download(BRAND_PATHS.get_download, {"DownloadId": download_id})
        fake_clock.advance(61)
        assert client.call(BRAND_PATHS.download_status, {"DownloadId": download_id})["Ready"] is True
    assert list(tmp_path.iterdir()) == []  # nothing left behind by the failed fetch


def test_a_dropped_download_is_fetched_again(sandbox: Sandbox, fake_clock: FakeClock, tmp_path) -> None:
    with make_client(sandbox, fake_clock, download_dir=tmp_path) as client:
        download_id = _ready_download(client)
        sandbox.faults.script("drop", "500")
        path = client.download(BRAND_PATHS.get_download, {"DownloadId": download_id})
    assert path.read_bytes().endswith(b"\r\n")
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # partial files are removed


def test_no_api_key_is_a_configuration_error_naming_the_setting() -> None:
    with pytest.raises(ConfigurationError, match="SOURCES__SERVICEMINDER__API_KEY"):
        ServiceminderClient("", "http://127.0.0.1:1/api/")


def test_configuration_comes_from_dlt_env_vars(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCES__SERVICEMINDER__API_KEY", KEY)
    monkeypatch.setenv("SOURCES__SERVICEMINDER__BASE_URL", sandbox.base_url)
    with client_from_config() as client:
        assert client.base_url == sandbox.base_url
        assert start_contacts(client)["ResultCode"] == 0


def test_the_key_never_leaks_into_logs_exceptions_or_reprs(
    sandbox: Sandbox, fake_clock: FakeClock, caplog: pytest.LogCaptureFixture, tmp_path
) -> None:
    caplog.set_level(logging.DEBUG)  # httpx and httpcore log at DEBUG too
    seen: list[str] = []

    def expect_failure(action) -> None:
        with pytest.raises(ServiceminderError) as err:
            action()
        seen.extend([str(err.value), repr(err.value), repr(err.value.args)])

    with make_client(sandbox, fake_clock, retry=RetryPolicy(max_attempts=2), download_dir=tmp_path) as client:
        seen.append(repr(client))
        seen.append(repr(start_contacts(client)))
        sandbox.faults.script("429", "503", "drop")
        expect_failure(lambda: start_contacts(client))
        expect_failure(lambda: client.call(BRAND_PATHS.start_download, {"Kind": "branding-widgets"}))
        expect_failure(lambda: client.call("nowhere", {}))
        download_id = _ready_download(client)
        seen.append(client.download(BRAND_PATHS.get_download, {"DownloadId": download_id}).read_text("utf-8-sig"))
    with make_client(sandbox, fake_clock, key=KEY + "-revoked") as client:
        expect_failure(lambda: start_contacts(client))
    seen.append(caplog.text)
    assert "retry 1 of 1" in caplog.text  # the retry really was logged
    for text in seen:
        assert KEY not in text
