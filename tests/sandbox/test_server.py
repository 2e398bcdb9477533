"""The sandbox server's own mechanics over real loopback HTTP: lifecycle, keys, faults, the feed, concurrency, speed.

Contract conformance (paging, filters, CSV values, truth) is in ``test_conformance.py``. These tests use httpx
directly, not the project's client, so they see exactly what goes over the wire.
"""

from __future__ import annotations

import csv
import io
import threading
import time
from collections.abc import Iterator
from datetime import date
from typing import Any

import httpx
import pytest

from pipelines.sandbox import Brand, Faults, Sandbox
from pipelines.sandbox.faults import OUTCOMES
from pipelines.sandbox.feed_queue import FeedQueue
from pipelines.sandbox.server import BOM, truncate_csv
from tests.fakes import FakeClock

KEY = "brand-secret-key-1234"
ORG_KEY = "org-secret-key-5678"
TODAY = date(2026, 8, 26)


@pytest.fixture(scope="module")
def small_brand() -> Brand:
    return Brand(7, 400, TODAY)


@pytest.fixture
def sandbox(fake_clock: FakeClock) -> Iterator[Sandbox]:
    brand = Brand(7, 400, TODAY)  # fresh: some tests advance days
    sb = Sandbox(
        api_key=KEY,
        brand=brand,
        page_size=60,
        clock=fake_clock.now,
        org_keys={ORG_KEY: brand.organizations[0][0]},
    )
    with sb:
        yield sb


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10) as client:
        yield client


def post(
    http: httpx.Client, sb: Sandbox, path: str, body: dict[str, Any] | None = None, **fields: Any
) -> httpx.Response:
    payload = {"ApiKey": KEY, **fields} if body is None else body
    return http.post(sb.base_url + path, json=payload)


def call(http: httpx.Client, sb: Sandbox, path: str, **fields: Any) -> dict[str, Any]:
    response = post(http, sb, path, **fields)
    assert response.status_code == 200, response.text
    return response.json()


def fetch_csv(http: httpx.Client, sb: Sandbox, kind: str = "branding-contacts", **fields: Any) -> httpx.Response:
    """start -> status -> getdownload (the sandbox under test has no prep delay unless the test sets one)."""
    started = call(http, sb, "datasubscriber/startdownload", Kind=kind, **fields)
    assert started["ResultCode"] == 0, started
    status = call(http, sb, "datasubscriber/downloadstatus", DownloadId=started["DownloadId"])
    assert status["Ready"] is True
    return post(http, sb, "datasubscriber/getdownload", DownloadId=started["DownloadId"])


def data_rows(body: bytes) -> list[list[str]]:
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"), newline="")))
    return rows[1:]


# -- lifecycle ---------------------------------------------------------------------------------------------------


def test_start_binds_a_free_loopback_port_and_stop_closes_it(small_brand: Brand) -> None:
    sb = Sandbox(brand=small_brand)
    with pytest.raises(RuntimeError, match="start"):
        _ = sb.base_url
    url = sb.start()
    assert url.startswith("http://127.0.0.1:") and url.endswith("/api/")
    assert sb.start() == url  # idempotent
    with httpx.Client() as client:
        assert client.post(url + "datasubscriber/fetch", json={"ApiKey": "sandbox-key"}).json()["ResultCode"] == 0
        began = time.monotonic()
        sb.stop()  # with the client's keep-alive connection still open
        assert time.monotonic() - began < 2
        with pytest.raises(httpx.TransportError):
            client.post(url + "datasubscriber/fetch", json={"ApiKey": "sandbox-key"})
    sb.stop()  # idempotent


def test_context_manager_and_repr_without_key(small_brand: Brand) -> None:
    with Sandbox(api_key=KEY, brand=small_brand, org_keys={ORG_KEY: small_brand.organizations[0][0]}) as sb:
        assert KEY not in repr(sb) and ORG_KEY not in repr(sb)
        assert sb.today == small_brand.today
    assert "stopped" in repr(sb)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"api_key": ""}, "api_key"),
        ({"page_size": 0}, "page_size"),
        ({"prep_delay": -1}, "prep_delay"),
        ({"org_keys": {"k": 1}}, "organization ids"),
        ({"org_keys": {"sandbox-key": None}}, "differ"),
    ],
)
def test_invalid_settings_are_refused(small_brand: Brand, kwargs: dict[str, Any], message: str) -> None:
    if kwargs.get("org_keys") == {"sandbox-key": None}:
        kwargs = {"org_keys": {"sandbox-key": small_brand.organizations[0][0]}}
    with pytest.raises(ValueError, match=message):
        Sandbox(brand=small_brand, **kwargs)


# -- keys, bodies, logging -------------------------------------------------------------------------------------------


def test_unknown_path_answers_an_empty_200(sandbox: Sandbox, http: httpx.Client) -> None:
    for path in ("datasubscriber/nosuchthing", "download/fetch", "v2/whatever"):
        response = post(http, sandbox, path, Kind="branding-contacts")
        assert response.status_code == 200 and response.content == b""


def test_paths_are_case_insensitive_and_tolerate_a_trailing_slash(sandbox: Sandbox, http: httpx.Client) -> None:
    assert call(http, sandbox, "DataSubscriber/Fetch/")["ResultCode"] == 0


@pytest.mark.parametrize("raw", [b"not json", b"[1, 2]", b""])
def test_a_body_that_is_not_a_json_object_is_a_result_code_error(
    sandbox: Sandbox, http: httpx.Client, raw: bytes
) -> None:
    response = http.post(sandbox.base_url + "datasubscriber/fetch", content=raw)
    assert response.status_code == 200
    assert response.json()["ResultCode"] == 2 and "JSON object" in response.json()["Message"]


def test_wrong_key_level_is_a_clear_result_code_error(sandbox: Sandbox, http: httpx.Client) -> None:
    as_brand = call(http, sandbox, "download/startdownload", Kind="contacts", UserId=1)
    assert as_brand["ResultCode"] == 4 and "datasubscriber/" in as_brand["Message"]
    for path in ("datasubscriber/startdownload", "datasubscriber/fetch", "datasubscriber/clear"):
        as_org = post(http, sandbox, path, {"ApiKey": ORG_KEY, "Kind": "branding-contacts"}).json()
        assert as_org["ResultCode"] == 4 and "organization key" in as_org["Message"]
        assert as_org["ApiKey"] == ORG_KEY


@pytest.mark.parametrize("key", [None, "", 42, ["x"], "wrong"])
def test_bad_key_shapes_are_invalid_api_key(sandbox: Sandbox, http: httpx.Client, key: Any) -> None:
    body = {"Kind": "branding-contacts"} if key is None else {"ApiKey": key, "Kind": "branding-contacts"}
    answer = post(http, sandbox, "datasubscriber/startdownload", body).json()
    assert (answer["ResultCode"], answer["Message"]) == (3, "Invalid API key")


def test_requests_log_every_call_without_the_key(sandbox: Sandbox, http: httpx.Client) -> None:
    fetch_csv(http, sandbox, RowId=5)
    post(http, sandbox, "nowhere", {"apikey": KEY, "X": 1})
    paths = [path for path, _ in sandbox.requests]
    assert paths == [
        "datasubscriber/startdownload",
        "datasubscriber/downloadstatus",
        "datasubscriber/getdownload",
        "nowhere",
    ]
    assert sandbox.requests[0][1] == {"Kind": "branding-contacts", "RowId": 5}
    assert sandbox.requests[3][1] == {"X": 1}
    assert KEY not in repr(sandbox.requests)


def test_download_ids_belong_to_the_key_that_started_them(sandbox: Sandbox, http: httpx.Client) -> None:
    started = call(http, sandbox, "datasubscriber/startdownload", Kind="branding-contacts")
    as_org = post(
        http, sandbox, "download/downloadstatus", {"ApiKey": ORG_KEY, "DownloadId": started["DownloadId"]}
    ).json()
    assert as_org["ResultCode"] == 7 and "Unknown DownloadId" in as_org["Message"]


# -- faults ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("code", ["500", "502", "503", "504"])
def test_scripted_server_errors(sandbox: Sandbox, http: httpx.Client, code: str) -> None:
    sandbox.faults.script(code)
    response = post(http, sandbox, "datasubscriber/fetch")
    assert response.status_code == int(code)
    assert call(http, sandbox, "datasubscriber/fetch")["ResultCode"] == 0  # the script is used up
    assert sandbox.fault_log == [("datasubscriber/fetch", code)]


def test_scripted_429_with_and_without_retry_after(sandbox: Sandbox, http: httpx.Client) -> None:
    sandbox.faults.retry_after = 2
    sandbox.faults.script("429-retry-after", "429")
    first = post(http, sandbox, "datasubscriber/startdownload", Kind="branding-contacts")
    second = post(http, sandbox, "datasubscriber/startdownload", Kind="branding-contacts")
    assert (first.status_code, first.headers.get("Retry-After")) == (429, "2")
    assert (second.status_code, second.headers.get("Retry-After")) == (429, None)


def test_a_faulted_start_starts_no_download(sandbox: Sandbox, http: httpx.Client) -> None:
    sandbox.faults.script("503")
    assert post(http, sandbox, "datasubscriber/startdownload", Kind="branding-contacts").status_code == 503
    assert sandbox._downloads == {}


def test_scripted_drop_closes_the_connection_without_a_response(sandbox: Sandbox, http: httpx.Client) -> None:
    sandbox.faults.script("drop")
    with pytest.raises(httpx.RemoteProtocolError, match="without sending a response"):
        post(http, sandbox, "datasubscriber/fetch")
    assert call(http, sandbox, "datasubscriber/fetch")["ResultCode"] == 0  # a new connection works


def test_scripted_truncate_cuts_the_csv_mid_line_with_a_matching_length(sandbox: Sandbox, http: httpx.Client) -> None:
    sandbox.faults.script("truncate")  # waits through start and status for the getdownload
    started = call(http, sandbox, "datasubscriber/startdownload", Kind="branding-contacts")
    assert call(http, sandbox, "datasubscriber/downloadstatus", DownloadId=started["DownloadId"])["Ready"]
    cut = post(http, sandbox, "datasubscriber/getdownload", DownloadId=started["DownloadId"])
    whole = post(http, sandbox, "datasubscriber/getdownload", DownloadId=started["DownloadId"])
    assert cut.status_code == whole.status_code == 200
    assert int(cut.headers["Content-Length"]) == len(cut.content) < len(whole.content)
    assert whole.content.startswith(cut.content) and whole.content.endswith(b"\r\n")
    assert not cut.content.endswith((b"\n", b"\r"))
    cut.content.decode("utf-8")  # never cut inside a character
    last_row = data_rows(cut.content)[-1]
    assert len(last_row) < len(data_rows(whole.content)[0])  # the last record is visibly short
    assert sandbox.fault_log == [("datasubscriber/getdownload", "truncate")]


def test_truncate_rate_hits_only_csv_bodies(sandbox: Sandbox, http: httpx.Client) -> None:
    sandbox.faults.rate_truncate = 1.0
    started = call(http, sandbox, "datasubscriber/startdownload", Kind="branding-contacts")
    assert call(http, sandbox, "datasubscriber/fetch")["ResultCode"] == 0
    bad = call(http, sandbox, "datasubscriber/getdownload", DownloadId="nope")
    assert bad["ResultCode"] == 7
    body = post(http, sandbox, "datasubscriber/getdownload", DownloadId=started["DownloadId"]).content
    assert not body.endswith(b"\r\n")


def test_rates_are_deterministic_from_the_seed(small_brand: Brand) -> None:
    def outcomes(seed: int) -> list[str]:
        faults = Faults(rate_429=0.2, rate_5xx=0.2, rate_drop=0.1, rate_truncate=0.1, seed=seed)
        with Sandbox(brand=small_brand, faults=faults) as sb, httpx.Client() as client:
            seen = []
            for _ in range(40):
                try:
                    seen.append(str(client.post(sb.base_url + "datasubscriber/fetch", json={}).status_code))
                except httpx.TransportError:
                    seen.append("drop")
            return seen

    first, again, other = outcomes(11), outcomes(11), outcomes(12)
    assert first == again != other
    assert {"200", "429", "drop"} <= set(first)
    assert set(first) & {"500", "502", "503", "504"}


def test_rate_429_splits_between_with_and_without_retry_after() -> None:
    faults = Faults(rate_429=1.0, seed=3)
    seen = [faults.decide(truncatable=True) for _ in range(200)]
    assert set(seen) == {"429", "429-retry-after"}
    assert 60 < seen.count("429") < 140


def test_rate_5xx_covers_every_code() -> None:
    faults = Faults(rate_5xx=1.0)
    assert {faults.decide(truncatable=False) for _ in range(200)} == {"500", "502", "503", "504"}


def test_a_new_script_replaces_what_was_left_and_an_empty_one_clears_it() -> None:
    faults = Faults()
    faults.script("500", "502")
    faults.script("503")
    assert [faults.decide(truncatable=False) for _ in range(2)] == ["503", "ok"]
    faults.script("drop", "drop")
    faults.script()
    assert faults.decide(truncatable=False) == "ok"


def test_a_script_overrides_rates_and_then_rates_resume() -> None:
    faults = Faults(rate_drop=1.0)
    faults.script("ok", "500")
    assert [faults.decide(truncatable=False) for _ in range(3)] == ["ok", "500", "drop"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"rate_429": 1.5}, "between 0 and 1"),
        ({"rate_5xx": -0.1}, "between 0 and 1"),
        ({"rate_429": 0.6, "rate_drop": 0.6}, "more than 1"),
        ({"slow_ready_polls": -1}, "slow_ready_polls"),
    ],
)
def test_invalid_fault_settings_are_refused(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Faults(**kwargs)


def test_unknown_scripted_outcome_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown fault outcome"):
        Faults().script("ok", "418")
    assert "418" not in OUTCOMES


def test_slow_ready_polls_add_not_ready_polls_after_the_prep_delay(
    sandbox: Sandbox, http: httpx.Client, fake_clock: FakeClock
) -> None:
    sandbox.prep_delay = 5.0
    sandbox.faults.slow_ready_polls = 2
    download_id = call(http, sandbox, "datasubscriber/startdownload", Kind="branding-contacts")["DownloadId"]

    def ready() -> bool:
        return call(http, sandbox, "datasubscriber/downloadstatus", DownloadId=download_id)["Ready"]

    assert [ready(), ready()] == [False, False]  # the prep delay has not passed: these polls do not count
    fake_clock.advance(5.0)
    assert call(http, sandbox, "datasubscriber/getdownload", DownloadId=download_id)["ResultCode"] == 8
    assert [ready(), ready(), ready(), ready()] == [False, False, True, True]
    assert post(http, sandbox, "datasubscriber/getdownload", DownloadId=download_id).content.startswith(BOM)


def test_a_download_whose_rendering_fails_answers_a_result_code_error(
    sandbox: Sandbox, http: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> bytes:
        raise RuntimeError("disk full")

    monkeypatch.setattr("pipelines.sandbox.server.render_csv", broken)
    download_id = call(http, sandbox, "datasubscriber/startdownload", Kind="branding-contacts")["DownloadId"]
    for path in ("datasubscriber/downloadstatus", "datasubscriber/getdownload"):
        answer = call(http, sandbox, path, DownloadId=download_id)
        assert answer["ResultCode"] == 9 and "Download failed (RuntimeError: disk full)" in answer["Message"]


# -- truncate_csv --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        BOM + b"Id,Name\r\n1,\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\r\n2,b\r\n3,c\r\n",
        BOM + b"Id,Name\r\n",
        b'Id,Name\r\n1,"multi\r\nline"\r\n',
        BOM + b"Id,Name\r\n1,\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\r\n",
    ],
)
def test_truncate_csv_never_ends_on_a_line_break_or_inside_a_character(body: bytes) -> None:
    cut = truncate_csv(body)
    assert 0 < len(cut) < len(body) and body.startswith(cut)
    assert not cut.endswith((b"\r", b"\n"))
    cut.decode("utf-8")


# -- the feed ---------------------------------------------------------------------------------------------------


def _event(n: int) -> dict[str, Any]:
    return {"TransactionKind": 1, "OrganizationId": 1, "AppointmentId": n, "Service": "Mowing"}


def test_fetch_returns_the_same_events_until_cleared(sandbox: Sandbox, http: httpx.Client) -> None:
    ids = sandbox.feed.enqueue(_event(n) for n in range(5))
    assert ids == sorted(ids) and ids[0] >= 1_000_000 and len(set(ids)) == 5
    first = call(http, sandbox, "datasubscriber/fetch", EventCount=3)
    again = call(http, sandbox, "datasubscriber/fetch", EventCount=3)
    assert first["Events"] == again["Events"]
    assert [e["Id"] for e in first["Events"]] == ids[:3]
    assert first["EventCount"] == 3 and first["ClearThroughId"] == ids[2]
    assert first["ApiKey"] == KEY and first["ResultCode"] == 0 and first["Message"] == ""
    assert first["Events"][0] == {"Id": ids[0], **_event(0)}

    cleared = call(http, sandbox, "datasubscriber/clear", ClearThroughId=ids[2])
    assert cleared == {"ApiKey": KEY, "ClearThroughId": ids[2], "ResultCode": 0, "Message": ""}
    rest = call(http, sandbox, "datasubscriber/fetch")
    assert [e["Id"] for e in rest["Events"]] == ids[3:]


def test_fetch_with_clear_through_id_clears_first(sandbox: Sandbox, http: httpx.Client) -> None:
    ids = sandbox.feed.enqueue(_event(n) for n in range(4))
    answer = call(http, sandbox, "datasubscriber/fetch", ClearThroughId=ids[1], EventCount=10)
    assert [e["Id"] for e in answer["Events"]] == ids[2:]
    assert answer["ClearThroughId"] == ids[3]
    call(http, sandbox, "datasubscriber/clear", ClearThroughId=ids[3])
    empty = call(http, sandbox, "datasubscriber/fetch", ClearThroughId=ids[3])
    assert (empty["EventCount"], empty["Events"], empty["ClearThroughId"]) == (0, [], ids[3])
    assert call(http, sandbox, "datasubscriber/fetch")["ClearThroughId"] == 0


def test_event_count_defaults_to_500(sandbox: Sandbox, http: httpx.Client) -> None:
    sandbox.feed.enqueue(_event(n) for n in range(620))
    answer = call(http, sandbox, "datasubscriber/fetch")
    assert answer["EventCount"] == len(answer["Events"]) == 500


def test_events_arriving_after_a_fetch_survive_a_clear_through_the_fetched_max(
    sandbox: Sandbox, http: httpx.Client
) -> None:
    sandbox.feed.enqueue(_event(n) for n in range(3))
    late: list[int] = []
    sandbox.feed.on_next_fetch(lambda: late.extend(sandbox.feed.enqueue([_event(99)])))
    fetched = call(http, sandbox, "datasubscriber/fetch")
    assert fetched["EventCount"] == 3 and len(late) == 1  # the callback ran, after the answer was built
    call(http, sandbox, "datasubscriber/clear", ClearThroughId=fetched["ClearThroughId"])
    assert [e["Id"] for e in call(http, sandbox, "datasubscriber/fetch")["Events"]] == late
    call(http, sandbox, "datasubscriber/fetch")
    assert len(late) == 1  # the callback ran once only


def test_purge_oldest_drops_events_even_unfetched_ones(sandbox: Sandbox, http: httpx.Client) -> None:
    ids = sandbox.feed.enqueue(_event(n) for n in range(5))
    assert sandbox.feed.purge_oldest(2) == 2
    assert [e["Id"] for e in call(http, sandbox, "datasubscriber/fetch")["Events"]] == ids[2:]
    assert sandbox.feed.purge_oldest(10) == 3
    assert call(http, sandbox, "datasubscriber/fetch")["Events"] == []


def test_event_ids_keep_growing_after_clears() -> None:
    feed = FeedQueue()
    first = feed.enqueue([_event(1)])
    feed.clear(first[0])
    second = feed.enqueue([_event(2)])
    assert second[0] > first[0] and len(feed) == 1 and feed.pending()[0]["Id"] == second[0]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"EventCount": 0}, "EventCount must be 1 or more"),
        ({"EventCount": "many"}, "EventCount must be a whole number"),
        ({"ClearThroughId": True}, "ClearThroughId must be a whole number"),
    ],
)
def test_bad_fetch_fields_are_result_code_errors(
    sandbox: Sandbox, http: httpx.Client, fields: dict[str, Any], message: str
) -> None:
    answer = call(http, sandbox, "datasubscriber/fetch", **fields)
    assert answer["ResultCode"] == 2 and message in answer["Message"]


def test_clear_needs_a_clear_through_id(sandbox: Sandbox, http: httpx.Client) -> None:
    answer = call(http, sandbox, "datasubscriber/clear")
    assert answer["ResultCode"] == 2 and "ClearThroughId is required" in answer["Message"]


def test_advance_days_enqueues_the_brands_events_with_ids(sandbox: Sandbox, http: httpx.Client) -> None:
    before = sandbox.today
    sandbox.advance_days(2)
    assert (sandbox.today - before).days == 2
    events = call(http, sandbox, "datasubscriber/fetch", EventCount=100_000)["Events"]
    assert events, "two simulated days produced no feed events"
    ids = [e["Id"] for e in events]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert {e["TransactionKind"] for e in events} <= {0, 1, 2, 3}
    assert all("OrganizationId" in e for e in events)


# -- json mode, eviction, concurrency, speed -----------------------------------------------------------------------


def test_csv_as_json_wraps_the_csv_in_data(sandbox: Sandbox, http: httpx.Client) -> None:
    plain = fetch_csv(http, sandbox).content
    sandbox.csv_as_json = True
    wrapped = fetch_csv(http, sandbox)
    assert wrapped.headers["Content-Type"].startswith("application/json")
    answer = wrapped.json()
    assert answer["ResultCode"] == 0 and answer["ApiKey"] == KEY
    assert answer["Data"].encode("utf-8") == plain.removeprefix(BOM)
    sandbox.faults.script("truncate")
    cut = fetch_csv(http, sandbox).json()["Data"]
    assert answer["Data"].startswith(cut) and len(cut) < len(answer["Data"])


def test_served_downloads_are_forgotten_beyond_the_cache_limit(sandbox: Sandbox, http: httpx.Client) -> None:
    sandbox.max_cached_bytes = 1
    first = call(http, sandbox, "datasubscriber/startdownload", Kind="branding-contacts")["DownloadId"]
    post(http, sandbox, "datasubscriber/getdownload", DownloadId=first)  # served in full: may be forgotten now
    second = call(http, sandbox, "datasubscriber/startdownload", Kind="branding-contacts")["DownloadId"]
    assert call(http, sandbox, "datasubscriber/getdownload", DownloadId=first)["ResultCode"] == 7
    assert post(http, sandbox, "datasubscriber/getdownload", DownloadId=second).content.startswith(BOM)


def test_many_concurrent_downloads(sandbox: Sandbox) -> None:
    expected = {}
    with httpx.Client() as client:
        for token in ("branding-contacts", "branding-appointments", "branding-invoices"):
            expected[token] = fetch_csv(client, sandbox, token).content
    results: list[tuple[str, bytes]] = []
    errors: list[BaseException] = []

    def worker(token: str) -> None:
        try:
            with httpx.Client(timeout=10) as client:
                for _ in range(3):
                    results.append((token, fetch_csv(client, sandbox, token).content))
        except BaseException as exc:  # reported below; a thread cannot fail the test itself
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(token,)) for token in list(expected) * 8]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(results) == 72
    assert all(body == expected[token] for token, body in results)


def test_a_25000_row_page_is_served_well_under_a_second(big_sandbox: Sandbox) -> None:
    with httpx.Client(timeout=30) as client:
        started = call(client, big_sandbox, "datasubscriber/startdownload", Kind="branding-appointments")
        assert call(client, big_sandbox, "datasubscriber/downloadstatus", DownloadId=started["DownloadId"])["Ready"]
        began = time.perf_counter()
        response = post(client, big_sandbox, "datasubscriber/getdownload", DownloadId=started["DownloadId"])
        elapsed = time.perf_counter() - began
    assert response.content.count(b"\r\n") >= 25_001
    assert int(response.headers["Content-Length"]) == len(response.content)
    assert elapsed < 0.5, f"getdownload of 25,000 rows took {elapsed:.2f} s"


@pytest.fixture(scope="module")
def big_sandbox() -> Iterator[Sandbox]:
    with Sandbox(api_key=KEY, seed=5, appointments=26_000, today=TODAY) as sb:
        yield sb
