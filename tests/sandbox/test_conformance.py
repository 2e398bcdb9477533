"""The sandbox against the API contract (shared/reference/serviceminder-api.md), seen from a raw httpx client.

The CSV is parsed here with the standard library and an independent reading of contract §2.1 (not with the
project's loader), and compared with the sandbox's ground truth value by value.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

from pipelines.sandbox import Brand, Sandbox
from pipelines.serviceminder.kinds import ALL_KINDS, KINDS_BY_ENTITY_TYPE, KINDS_BY_KEY, Kind
from tests.fakes import FakeClock

KEY = "conformance-brand-key-0001"
ORG_KEY = "conformance-org-key-0002"
TODAY = date(2026, 8, 26)
PAGE = 97  # small, so every kind spans several pages
BOM = b"\xef\xbb\xbf"


# -- fixtures and helpers ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def shared_brand() -> Brand:
    """Read-only tests share one brand; tests that advance days build their own."""
    return Brand(11, 600, TODAY)


def make_sandbox(brand: Brand, clock: FakeClock, **kwargs: Any) -> Sandbox:
    return Sandbox(
        api_key=KEY,
        brand=brand,
        page_size=kwargs.pop("page_size", PAGE),
        clock=clock.now,
        org_keys={ORG_KEY: brand.organizations[0][0]},
        **kwargs,
    )


@pytest.fixture
def sandbox(shared_brand: Brand, fake_clock: FakeClock) -> Iterator[Sandbox]:
    with make_sandbox(shared_brand, fake_clock) as sb:
        yield sb


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=30) as client:
        yield client


def call(http: httpx.Client, sb: Sandbox, path: str, *, key: str = KEY, **fields: Any) -> dict[str, Any]:
    response = http.post(sb.base_url + path, json={"ApiKey": key, **fields})
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["ApiKey"] == key, f"{path} did not echo the ApiKey"
    return answer


def get_page(http: httpx.Client, sb: Sandbox, token: str, *, org: bool = False, **fields: Any) -> bytes:
    prefix, key = ("download/", ORG_KEY) if org else ("datasubscriber/", KEY)
    extra = {"UserId": 17} if org else {}
    started = call(http, sb, prefix + "startdownload", key=key, Kind=token, **extra, **fields)
    assert started["ResultCode"] == 0, started["Message"]
    assert isinstance(started["DownloadId"], str)
    status = call(http, sb, prefix + "downloadstatus", key=key, DownloadId=started["DownloadId"])
    assert (status["ResultCode"], status["Ready"], status["DownloadId"]) == (0, True, started["DownloadId"])
    response = http.post(sb.base_url + prefix + "getdownload", json={"ApiKey": key, "DownloadId": status["DownloadId"]})
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/csv")
    assert int(response.headers["Content-Length"]) == len(response.content)
    return response.content


def parse_csv(kind: Kind, body: bytes) -> list[dict[str, str]]:
    """The records of a CSV body, keyed by kinds.py column name, after checking the file-level rules of §2.1."""
    assert body.startswith(BOM), "no byte-order mark"
    assert body.endswith(b"\r\n"), "the last record does not end with CRLF"
    text = body[len(BOM) :].decode("utf-8")
    assert text.split("\r\n", 1)[0].count("\n") == 0, "the header line does not end with CRLF"
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    header = next(reader)
    assert header == [c.header for c in kind.columns]
    by_header = {c.header: c.name for c in kind.columns}
    records = []
    for values in reader:
        assert len(values) == len(header), f"a record has {len(values)} fields, not {len(header)}: {values[:2]}"
        records.append({by_header[h]: v for h, v in zip(header, values, strict=True)})
    # Outside quoted fields every line break is CRLF: as many CRLF-terminated records as the reader found.
    unquoted = re.sub(r'"(?:[^"]|"")*"', "", text)
    assert unquoted.count("\n") == unquoted.count("\r\n") == len(records) + 1
    return records


_DATE = re.compile(r"([1-9]\d?)/([1-9]\d?)/(\d{4})")
_TIMESTAMP = re.compile(r"([1-9]\d?)/([1-9]\d?)/(\d{4}) ([1-9]|1[0-2]):(\d\d):(\d\d) (AM|PM)")
_MONEY = re.compile(r"(-?)\$(\d{1,3}(?:,\d{3})*)\.(\d\d)")


def typed(type_: str, text: str) -> Any:
    """One CSV field read as contract §2.1 says, strictly: anything off the documented shape fails the test."""
    if text == "":
        return None
    if type_ in ("id", "int"):
        assert re.fullmatch(r"-?\d+", text), text
        return int(text)
    if type_ == "money":
        match = _MONEY.fullmatch(text)
        assert match, f"money {text!r} is not like $1,234.50"
        return Decimal(match[1] + match[2].replace(",", "") + "." + match[3])
    if type_ == "decimal":
        assert re.fullmatch(r"-?\d+(\.\d+)?", text), text
        return Decimal(text)
    if type_ == "date":
        match = _DATE.fullmatch(text)
        assert match, f"date {text!r} is not like 8/26/2026"
        return date(int(match[3]), int(match[1]), int(match[2]))
    if type_ == "timestamp":
        match = _TIMESTAMP.fullmatch(text)
        assert match, f"date-time {text!r} is not like 8/26/2026 10:00:00 AM"
        hour = int(match[4]) % 12 + (12 if match[7] == "PM" else 0)
        return datetime(int(match[3]), int(match[1]), int(match[2]), hour, int(match[5]), int(match[6]))
    if type_ == "bool":
        assert text in ("Yes", "No"), text
        return text == "Yes"
    return text


def typed_record(kind: Kind, record: dict[str, str]) -> dict[str, Any]:
    return {c.name: typed(c.type, record[c.name]) for c in kind.columns}


def comparable(kind: Kind, record: dict[str, Any]) -> dict[str, Any]:
    """A truth record as the CSV can carry it: empty text and NULL are the same thing there."""
    return {c.name: (None if record[c.name] == "" else record[c.name]) for c in kind.columns}


def download_all(http: httpx.Client, sb: Sandbox, kind: Kind, *, org: bool = False, **filters: Any) -> list[list]:
    """Every page of a kind, paging as the contract says; returns the pages of typed records."""
    pages: list[list[dict[str, Any]]] = []
    row_id = 0
    for _ in range(10_000):
        token = kind.org_token if org else kind.brand_token
        records = [
            typed_record(kind, r) for r in parse_csv(kind, get_page(http, sb, token, org=org, RowId=row_id, **filters))
        ]
        pages.append(records)
        if not records:
            return pages
        row_id = records[-1]["id"] + 1
    raise AssertionError("paging never reached an empty page")


def served_records(pages: list[list[dict[str, Any]]]) -> dict[int, dict[str, Any]]:
    ids = [r["id"] for page in pages for r in page]
    assert ids == sorted(ids) and len(ids) == len(set(ids)), "ids are not strictly ascending across pages"
    return {r["id"]: r for page in pages for r in page}


def expected(kind: Kind, live: dict[int, dict[str, Any]]) -> dict[int, dict[str, Any]]:
    return {i: comparable(kind, r) for i, r in live.items()}


# -- the truth is what is served -----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ALL_KINDS, ids=lambda k: k.key)
def test_every_page_of_every_kind_matches_the_truth(sandbox: Sandbox, http: httpx.Client, kind: Kind) -> None:
    pages = download_all(http, sandbox, kind)
    assert len(pages) >= 2, "the test brand is too small to page"
    assert all(len(page) <= PAGE for page in pages) and pages[-1] == []
    assert all(len(page) == PAGE for page in pages[:-2]), "a page before the last data page is short"
    live = sandbox.truth().live[kind.key]
    assert live, f"the brand has no {kind.key}"
    assert served_records(pages) == expected(kind, live)


@pytest.mark.parametrize("kind", ALL_KINDS, ids=lambda k: k.key)
def test_an_org_key_sees_exactly_its_own_organizations_rows(sandbox: Sandbox, http: httpx.Client, kind: Kind) -> None:
    org_id = sandbox.brand.organizations[0][0]
    live = {i: r for i, r in sandbox.truth().live[kind.key].items() if r["organization_id"] == org_id}
    assert live, f"organization {org_id} has no {kind.key}"
    assert served_records(download_all(http, sandbox, kind, org=True)) == expected(kind, live)


def test_truth_after_simulated_days_still_matches(fake_clock: FakeClock, http: httpx.Client) -> None:
    brand = Brand(23, 400, TODAY)
    with make_sandbox(brand, fake_clock) as sb:
        sb.advance_days(4)
        truth = sb.truth()
        assert truth.deletions, "four simulated days deleted nothing"
        for kind in ALL_KINDS:
            served = served_records(download_all(http, sb, kind))
            assert served == expected(kind, truth.live[kind.key])
            assert not served.keys() & truth.deleted_ids(kind.key), f"deleted {kind.key} are still served"
        changed = served_records(download_all(http, sb, KINDS_BY_KEY["appointments"], UpdatedFrom=str(sb.today)))
        assert changed and all(r["updated_at"].date() == sb.today for r in changed.values())


def test_entity_deleted_events_match_the_deletions_that_reach_the_feed(
    fake_clock: FakeClock, http: httpx.Client
) -> None:
    with make_sandbox(Brand(29, 400, TODAY), fake_clock) as sb:
        sb.advance_days(5)
        events = call(http, sb, "datasubscriber/fetch", EventCount=1_000_000)["Events"]
        truth = sb.truth()
    deleted = {(KINDS_BY_ENTITY_TYPE[e["EntityType"]].key, e["EntityId"]) for e in events if e["TransactionKind"] == 3}
    assert deleted == {(d.kind_key, d.entity_id) for d in truth.deletions if d.feed_event}
    assert any(not d.feed_event for d in truth.deletions), "no delete was lost by the feed"


def test_a_download_is_a_snapshot_taken_at_start(fake_clock: FakeClock, http: httpx.Client) -> None:
    with make_sandbox(Brand(31, 300, TODAY), fake_clock, page_size=100_000) as sb:
        before = sb.truth().live["appointments"]
        started = call(http, sb, "datasubscriber/startdownload", Kind="branding-appointments")
        sb.advance_days(3)
        assert sb.truth().live["appointments"] != before
        body = http.post(sb.base_url + "datasubscriber/getdownload", json={"ApiKey": KEY, **started}).content
    kind = KINDS_BY_KEY["appointments"]
    served = {r["id"]: r for r in (typed_record(kind, x) for x in parse_csv(kind, body))}
    assert served == expected(kind, before)


# -- paging ---------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def big_sandbox() -> Iterator[Sandbox]:
    with Sandbox(api_key=KEY, seed=5, appointments=26_000, today=TODAY) as sb:  # real page size: 25,000
        yield sb


@pytest.mark.parametrize("rows", [25_000, 25_001])
def test_paging_boundary_at_the_real_page_size(big_sandbox: Sandbox, http: httpx.Client, rows: int) -> None:
    kind = KINDS_BY_KEY["appointments"]
    ids = sorted(big_sandbox.truth().live["appointments"])
    assert len(ids) >= 25_001, "the brand needs more appointments for this test"
    first_id = ids[-rows]  # RowId such that exactly `rows` appointments remain
    sizes, row_id, seen = [], first_id, []
    while True:
        records = parse_csv(kind, get_page(http, big_sandbox, kind.brand_token, RowId=row_id))
        sizes.append(len(records))
        if not records:
            break
        seen += [int(r["id"]) for r in records]
        row_id = seen[-1] + 1
    assert sizes == ([25_000, 0] if rows == 25_000 else [25_000, 1, 0])
    assert seen == ids[-rows:]


def test_row_id_is_an_inclusive_lower_bound(sandbox: Sandbox, http: httpx.Client) -> None:
    kind = KINDS_BY_KEY["contacts"]
    ids = sorted(sandbox.truth().live["contacts"])
    middle = ids[len(ids) // 2]
    page = [int(r["id"]) for r in parse_csv(kind, get_page(http, sandbox, kind.brand_token, RowId=middle))]
    assert page == ids[len(ids) // 2 :][:PAGE]
    after = [int(r["id"]) for r in parse_csv(kind, get_page(http, sandbox, kind.brand_token, RowId=middle + 1))]
    assert after[0] == ids[len(ids) // 2 + 1]
    assert parse_csv(kind, get_page(http, sandbox, kind.brand_token, RowId=ids[-1] + 1)) == []
    assert parse_csv(kind, get_page(http, sandbox, kind.brand_token, RowId=str(middle)))[0]["id"] == str(middle)


# -- filters -----------------------------------------------------------------------------------------------------


def _between(value: date, low: date | None, high: date | None) -> bool:
    return (low is None or value >= low) and (high is None or value <= high)


@pytest.mark.parametrize(
    ("created", "updated"),
    [
        ((-200, -100), (None, None)),
        ((None, -300), (None, None)),
        ((None, None), (-30, None)),
        ((None, None), (-60, -45)),
        ((-400, -10), (-20, None)),  # both ranges: AND
        ((-5, -5), (None, None)),  # one whole day
    ],
)
@pytest.mark.parametrize("padded", [False, True], ids=["unpadded", "zero-padded"])
def test_date_filters_are_inclusive_whole_days_and_combine_with_and(
    sandbox: Sandbox, http: httpx.Client, created: tuple, updated: tuple, padded: bool
) -> None:
    def day(offset: int | None) -> date | None:
        return None if offset is None else TODAY + timedelta(days=offset)

    def text(d: date) -> str:
        return d.isoformat() if padded else f"{d.year}-{d.month}-{d.day}"

    bounds = {"CreatedFrom": day(created[0]), "CreatedThrough": day(created[1])}
    bounds |= {"UpdatedFrom": day(updated[0]), "UpdatedThrough": day(updated[1])}
    fields = {name: text(d) for name, d in bounds.items() if d is not None}
    kind = KINDS_BY_KEY["appointments"]
    served = served_records(download_all(http, sandbox, kind, **fields))
    live = {
        i: r
        for i, r in sandbox.truth().live["appointments"].items()
        if _between(r["created_at"].date(), bounds["CreatedFrom"], bounds["CreatedThrough"])
        and _between(r["updated_at"].date(), bounds["UpdatedFrom"], bounds["UpdatedThrough"])
    }
    assert live, f"the filter {fields} selects nothing: the test proves little"
    assert len(live) < len(sandbox.truth().live["appointments"])
    assert served == expected(kind, live)


@pytest.mark.parametrize("value", ["2022/5/1", "5/1/2022", "2022-13-1", "2022-2-30", "yesterday", 20220501, "2022-5"])
def test_a_malformed_date_filter_is_a_result_code_error(sandbox: Sandbox, http: httpx.Client, value: Any) -> None:
    answer = call(http, sandbox, "datasubscriber/startdownload", Kind="branding-contacts", UpdatedFrom=value)
    assert answer["ResultCode"] == 2 and "UpdatedFrom must be a date like 2022-5-1" in answer["Message"]


@pytest.mark.parametrize("value", [-1, "x", 1.5, True])
def test_a_bad_row_id_is_a_result_code_error(sandbox: Sandbox, http: httpx.Client, value: Any) -> None:
    answer = call(http, sandbox, "datasubscriber/startdownload", Kind="branding-contacts", RowId=value)
    assert answer["ResultCode"] == 2 and "RowId" in answer["Message"]


# -- CSV values -------------------------------------------------------------------------------------------------


def test_free_text_quoting_round_trips(sandbox: Sandbox, http: httpx.Client) -> None:
    texts: list[str] = []
    for kind in ALL_KINDS:
        for record in served_records(download_all(http, sandbox, kind)).values():
            texts += [record[c.name] for c in kind.columns if c.type == "text" and record[c.name]]
    # The round trip itself is checked value by value in test_every_page_of_every_kind_matches_the_truth; here:
    # the brand really exercises it.
    assert any("," in t for t in texts), "no text with a comma"
    assert any('"' in t for t in texts), "no text with a quote"
    assert any("\n" in t for t in texts), "no text with a line break"
    assert any(re.fullmatch(r"0\d{4}", t) for t in texts), "no postal code with a leading zero"


def test_dates_times_money_and_booleans_cover_their_shapes(sandbox: Sandbox, http: httpx.Client) -> None:
    by_type: dict[str, set[str]] = {}
    for kind in ALL_KINDS:
        body = get_page(http, sandbox, kind.brand_token, RowId=0)
        for record in parse_csv(kind, body):
            for column in kind.columns:
                by_type.setdefault(column.type, set()).add(record[column.name])
    assert any(v.endswith("PM") for v in by_type["timestamp"]) and any(v.endswith("AM") for v in by_type["timestamp"])
    assert any("" in values for values in by_type.values()), "no NULL anywhere"
    assert {"Yes", "No"} <= by_type["bool"]
    assert any("," in v for v in by_type["money"]), "no money of $1,000 or more"


def test_extra_missing_and_malformed_columns_reach_the_csv(sandbox: Sandbox, http: httpx.Client) -> None:
    kind = KINDS_BY_KEY["contacts"]
    plain = get_page(http, sandbox, kind.brand_token)
    victim = int(parse_csv(kind, plain)[3]["id"])
    sandbox.extra_columns["contacts"] = {"Franchise Region": "West"}
    sandbox.missing_columns["contacts"] = {"digital_tracking_id"}
    sandbox.malformed["contacts"] = {victim}
    try:
        changed = get_page(http, sandbox, kind.brand_token).decode("utf-8-sig")
    finally:
        sandbox.extra_columns.clear()
        sandbox.missing_columns.clear()
        sandbox.malformed.clear()
    header = next(csv.reader(io.StringIO(changed, newline="")))
    assert header[-1] == "Franchise Region" and "Digital Tracking Id" not in header
    assert ",West\r\n" in changed
    assert get_page(http, sandbox, kind.brand_token) == plain  # the settings apply to downloads started later only
    plain_rows = list(csv.reader(io.StringIO(plain.decode("utf-8-sig"), newline="")))
    changed_rows = list(csv.reader(io.StringIO(changed, newline="")))
    victim_row = next(r for r in changed_rows if r[0] == str(victim))
    assert len(victim_row) != len(header) or victim_row[:-1] != [
        v
        for h, v in zip(plain_rows[0], next(r for r in plain_rows if r[0] == str(victim)), strict=True)
        if h != "Digital Tracking Id"
    ], "the malformed row is rendered like any other"


# -- JSON conventions and errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "key", "fields", "code", "message"),
    [
        ("datasubscriber/startdownload", "not-the-key", {"Kind": "branding-contacts"}, 3, "Invalid API key"),
        ("datasubscriber/fetch", "not-the-key", {}, 3, "Invalid API key"),
        ("download/startdownload", "not-the-key", {"Kind": "contacts", "UserId": 1}, 3, "Invalid API key"),
        ("datasubscriber/startdownload", KEY, {"Kind": "branding-widgets"}, 5, "Unknown Kind 'branding-widgets'"),
        ("datasubscriber/startdownload", KEY, {"Kind": "contacts"}, 5, "Unknown Kind 'contacts'"),
        ("datasubscriber/startdownload", KEY, {}, 5, "Kind is required"),
        ("download/startdownload", ORG_KEY, {"Kind": "branding-contacts", "UserId": 1}, 5, "Unknown Kind"),
        ("download/startdownload", ORG_KEY, {"Kind": "contacts"}, 6, "UserId is required"),
        ("download/startdownload", ORG_KEY, {"Kind": "contacts", "UserId": ""}, 6, "UserId is required"),
        ("datasubscriber/downloadstatus", KEY, {"DownloadId": "no-such-id"}, 7, "Unknown DownloadId"),
        ("datasubscriber/getdownload", KEY, {"DownloadId": "no-such-id"}, 7, "Unknown DownloadId"),
        ("download/downloadstatus", ORG_KEY, {"DownloadId": "no-such-id"}, 7, "Unknown DownloadId"),
        ("datasubscriber/downloadstatus", KEY, {}, 2, "DownloadId is required"),
    ],
)
def test_result_code_errors_answer_http_200_and_echo_the_request(
    sandbox: Sandbox, http: httpx.Client, path: str, key: str, fields: dict, code: int, message: str
) -> None:
    answer = call(http, sandbox, path, key=key, **fields)
    assert answer["ResultCode"] == code and message in answer["Message"]
    assert {k: answer[k] for k in fields} == fields


def test_prep_delay_follows_the_injected_clock(shared_brand: Brand, fake_clock: FakeClock, http: httpx.Client) -> None:
    with make_sandbox(shared_brand, fake_clock, prep_delay=30.0) as sb:
        download_id = call(http, sb, "datasubscriber/startdownload", Kind="branding-payments")["DownloadId"]
        status = call(http, sb, "datasubscriber/downloadstatus", DownloadId=download_id)
        assert (status["ResultCode"], status["Ready"]) == (0, False)
        early = call(http, sb, "datasubscriber/getdownload", DownloadId=download_id)
        assert (early["ResultCode"], early["Message"].split(";")[0]) == (8, "Download is not ready")
        assert early["DownloadId"] == download_id
        fake_clock.advance(29.9)
        assert call(http, sb, "datasubscriber/downloadstatus", DownloadId=download_id)["Ready"] is False
        fake_clock.advance(0.1)
        assert call(http, sb, "datasubscriber/downloadstatus", DownloadId=download_id)["Ready"] is True
        body = http.post(sb.base_url + "datasubscriber/getdownload", json={"ApiKey": KEY, "DownloadId": download_id})
        assert body.content.startswith(BOM)


def test_every_json_answer_echoes_the_api_key(sandbox: Sandbox, http: httpx.Client) -> None:
    sandbox.feed.enqueue([{"TransactionKind": 1, "OrganizationId": 1, "AppointmentId": 5, "Service": "x"}])
    # call() asserts the echo on every answer
    started = call(http, sandbox, "datasubscriber/startdownload", Kind="branding-invoices", RowId=0)
    call(http, sandbox, "datasubscriber/downloadstatus", DownloadId=started["DownloadId"])
    fetched = call(http, sandbox, "datasubscriber/fetch", EventCount=10)
    call(http, sandbox, "datasubscriber/clear", ClearThroughId=fetched["ClearThroughId"])
    org_started = call(http, sandbox, "download/startdownload", key=ORG_KEY, Kind="invoices", UserId="u1")
    assert org_started["UserId"] == "u1" and org_started["Kind"] == "invoices"
    call(http, sandbox, "download/downloadstatus", key=ORG_KEY, DownloadId=org_started["DownloadId"])
    sandbox.csv_as_json = True
    data = call(http, sandbox, "datasubscriber/getdownload", DownloadId=started["DownloadId"])
    assert data["Data"].startswith("Id,")
