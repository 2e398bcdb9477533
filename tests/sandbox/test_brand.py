"""The synthetic brand: determinism, realistic and consistent records, download filters, and simulated days."""

from __future__ import annotations

import re
from collections import Counter
from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest

from pipelines.sandbox.brand import Brand, Deletion
from pipelines.serviceminder.kinds import ALL_KINDS, KINDS_BY_KEY
from tests.sandbox.invariants import check

TODAY = date(2026, 4, 5)
KEYS = [k.key for k in ALL_KINDS]


@pytest.fixture(scope="module")
def brand() -> Brand:
    """A brand as generated; tests must not advance it."""
    return Brand(seed=11, appointments=2_000, today=TODAY)


@pytest.fixture(scope="module")
def days() -> tuple[Brand, dict[str, dict[int, dict]], list[list[dict]]]:
    """A brand advanced by three days: (brand, live records before, events of each day)."""
    b = Brand(seed=12, appointments=2_000, today=TODAY)
    before = {k: b.live(k) for k in KEYS}
    events = [b.advance_day() for _ in range(3)]
    return b, before, events


# --- determinism -------------------------------------------------------------------------------------------------


def test_same_arguments_give_the_same_brand_and_the_same_days() -> None:
    a, b = Brand(5, 600, TODAY), Brand(5, 600, TODAY)
    assert a.organizations == b.organizations
    for key in KEYS:
        assert a.live(key) == b.live(key)
    for _ in range(2):
        assert a.advance_day() == b.advance_day()
    assert a.deletions == b.deletions
    for key in KEYS:
        assert a.live(key) == b.live(key)


def test_another_seed_or_date_gives_another_brand() -> None:
    base = Brand(5, 600, TODAY).live("contacts")
    assert Brand(6, 600, TODAY).live("contacts") != base
    assert Brand(5, 600, TODAY + timedelta(days=1)).live("contacts") != base


def test_today_defaults_to_the_current_date() -> None:
    before = date.today()
    b = Brand(1, 50)
    assert before <= b.today <= date.today()


def test_bad_arguments_are_rejected_clearly(brand: Brand) -> None:
    with pytest.raises(ValueError, match="appointments must be at least 1"):
        Brand(1, 0, TODAY)
    with pytest.raises(ValueError, match="today must be in 2003 or later"):
        Brand(1, 10, date(2001, 6, 1))
    with pytest.raises(KeyError, match="unknown kind 'branding-contacts'"):
        brand.select("branding-contacts")


# --- shape and realism -------------------------------------------------------------------------------------------

_TYPES = {
    "id": int,
    "int": int,
    "text": str,
    "money": Decimal,
    "decimal": Decimal,
    "timestamp": datetime,
    "date": date,
    "bool": bool,
}


@pytest.mark.parametrize("key", KEYS)
def test_records_have_exactly_the_kind_columns_with_typed_values(brand: Brand, key: str) -> None:
    kind = KINDS_BY_KEY[key]
    records = brand.live(key)
    assert records
    for rid, r in records.items():
        assert tuple(r) == kind.column_names
        assert r["id"] == rid and 1_000_000_000 <= rid < 10_000_000_000
        for col in kind.columns:
            v = r[col.name]
            if v is None:
                continue
            assert type(v) is _TYPES[col.type], (col.name, v)
            if col.type == "money":
                assert v.as_tuple().exponent == -2
            elif col.type == "decimal":
                assert v.as_tuple().exponent == -4
            elif col.type == "timestamp":
                assert v.tzinfo is None


def test_scale_and_time_span(brand: Brand) -> None:
    assert brand.count("appointments") == 2_000
    assert 450 <= brand.count("contacts") <= 550
    assert brand.today == TODAY
    appointments = brand.live("appointments").values()
    starts = [a["scheduled_start"].date() for a in appointments]
    assert min(starts) < TODAY - timedelta(days=600)
    assert TODAY + timedelta(days=40) < max(starts) <= TODAY + timedelta(days=61)
    for key in KEYS:
        rows = brand.live(key).values()
        assert min(r["created_at"] for r in rows).date() >= TODAY - timedelta(days=731)
        assert max(r["updated_at"] for r in rows) < datetime.combine(TODAY + timedelta(days=1), datetime.min.time())


def test_records_are_consistent_with_each_other(brand: Brand) -> None:
    check(brand)


@pytest.mark.parametrize("key", KEYS)
def test_ids_grow_with_creation(brand: Brand, key: str) -> None:
    records = list(brand.live(key).values())
    assert all(a["created_at"] <= b["created_at"] for a, b in zip(records, records[1:], strict=False))


def test_plausible_distributions(brand: Brand) -> None:
    appointments = list(brand.live("appointments").values())
    status = Counter(a["status"] for a in appointments)
    assert set(status) == {"Unassigned", "Scheduled", "Completed", "Canceled"}
    assert 0.62 <= status["Completed"] / len(appointments) <= 0.85
    assert 0.04 <= status["Canceled"] / len(appointments) <= 0.12
    future = [a for a in appointments if a["scheduled_start"].date() > TODAY]
    assert any(a["status"] == "Unassigned" for a in future)
    assert all(a["status"] != "Completed" for a in future)
    series = Counter(a["recurrence_id"] for a in appointments if a["recurring"])
    assert len(series) >= 20 and max(series.values()) >= 5

    assert set(Counter(i["status"] for i in brand.live("invoices").values())) == {"Open", "Paid", "Void"}
    assert set(Counter(p["status"] for p in brand.live("proposals").values())) == {
        "Open",
        "Accepted",
        "Declined",
        "Expired",
    }
    assert set(Counter(c["category"] for c in brand.live("contacts").values())) == {
        "Customer",
        "Prospect",
        "Lead",
        "Inactive",
    }
    assert set(Counter(p["method"] for p in brand.live("payments").values())) == {"Card", "Cash", "Check", "ACH"}
    invoices = list(brand.live("invoices").values())
    assert any(i["appointment_id"] is None and i["proposal_id"] is None for i in invoices)
    assert any(i["appointment_id"] is None and i["proposal_id"] is not None for i in invoices)
    assert any(i["appointment_id"] is not None and i["proposal_id"] is not None for i in invoices)
    per_invoice = Counter(line["invoice_id"] for line in brand.live("invoice_lines").values())
    assert set(per_invoice.values()) <= {1, 2, 3, 4} and len(set(per_invoice.values())) >= 3
    assert any(i["balance_due"] < 0 for i in invoices) or any(i["discount"] > 0 for i in invoices)


def test_the_last_day_of_history_books_no_more_jobs_than_the_days_before(brand: Brand) -> None:
    # an incremental night re-reads the last days: a pile of bookings there would make every first night look heavy
    booked = Counter(a["created_at"].date() for a in brand.iter_live("appointments"))
    days_before = [booked[TODAY - timedelta(days=d)] for d in range(1, 29)]
    assert booked[TODAY] <= 2 * max(days_before), (booked[TODAY], days_before)


def test_organizations_have_their_own_names(brand: Brand) -> None:
    orgs = brand.organizations
    assert len(orgs) >= 3
    assert len({name for _, name in orgs}) == len(orgs)
    assert len({org_id for org_id, _ in orgs}) == len(orgs)
    used = Counter(c["organization_id"] for c in brand.live("contacts").values())
    assert set(used) == {org_id for org_id, _ in orgs}


def test_free_text_exercises_csv_quoting_and_text_typing() -> None:
    b = Brand(seed=3, appointments=2_000, today=TODAY)
    assert any("," in name for _, name in b.organizations)
    contacts = list(b.live("contacts").values())
    assert any("," in c["name"] for c in contacts)
    assert any(c["company"] and "," in c["company"] for c in contacts)
    assert any(c["tags"] and "\n" in c["tags"] for c in contacts)
    assert any(not c["name"].isascii() for c in contacts)
    assert any(c["postal_code"].startswith("0") for c in contacts)
    assert all(re.fullmatch(r"\d{5}(-\d{4})?", c["postal_code"]) for c in contacts)
    assert all(c["primary_phone"] is None or isinstance(c["primary_phone"], str) for c in contacts)
    descriptions = [x["description"] for x in b.live("invoice_lines").values() if x["description"]]
    assert any('"' in d for d in descriptions)
    assert any("\n" in d for d in descriptions)
    assert any("\r\n" in d for d in descriptions)
    assert any(re.fullmatch(r"0\d+", i["invoice_number"]) for i in b.live("invoices").values())


# --- select: the download filters ------------------------------------------------------------------------------


def _brute(brand: Brand, key: str, **f) -> list[int]:
    def ok(r: dict) -> bool:
        c, u = r["created_at"].date(), r["updated_at"].date()
        return (
            (f.get("organization_id") is None or r["organization_id"] == f["organization_id"])
            and (f.get("created_from") is None or c >= f["created_from"])
            and (f.get("created_through") is None or c <= f["created_through"])
            and (f.get("updated_from") is None or u >= f["updated_from"])
            and (f.get("updated_through") is None or u <= f["updated_through"])
            and r["id"] >= f.get("row_id", 0)
        )

    return [rid for rid, r in brand.live(key).items() if ok(r)]


def test_select_pages_in_ascending_id_order_with_an_inclusive_row_id(brand: Brand) -> None:
    ids = sorted(brand.live("appointments"))
    page = brand.select("appointments", limit=700)
    assert [r["id"] for r in page] == ids[:700]
    nxt = brand.select("appointments", row_id=page[-1]["id"] + 1, limit=700)
    assert [r["id"] for r in nxt] == ids[700:1400]
    assert brand.select("appointments", row_id=ids[700], limit=1)[0]["id"] == ids[700]  # inclusive
    assert brand.select("appointments", row_id=ids[-1] + 1) == []
    assert brand.select("appointments", limit=0) == []
    assert len(brand.select("appointments")) == 2_000  # default limit 25,000
    assert page[0] == brand.live("appointments")[ids[0]]


def test_select_returns_copies(brand: Brand) -> None:
    row = brand.select("contacts", limit=1)[0]
    row["name"] = "changed"
    assert brand.select("contacts", limit=1)[0]["name"] != "changed"


@pytest.mark.parametrize(
    "filters",
    [
        {"created_from": TODAY - timedelta(days=100), "created_through": TODAY - timedelta(days=90)},
        {"created_from": TODAY - timedelta(days=100), "created_through": TODAY - timedelta(days=100)},
        {"updated_from": TODAY - timedelta(days=3)},
        {"updated_through": TODAY - timedelta(days=500)},
        {"created_through": TODAY - timedelta(days=200), "updated_from": TODAY - timedelta(days=30)},
        {"updated_from": TODAY + timedelta(days=1)},
        {"updated_from": TODAY - timedelta(days=20), "row_id": 0, "organization_id": "first"},
    ],
)
@pytest.mark.parametrize("key", ["appointments", "invoice_lines", "contacts"])
def test_select_filters_are_inclusive_whole_days_and_combine(brand: Brand, key: str, filters: dict) -> None:
    filters = dict(filters)
    if filters.get("organization_id") == "first":
        filters["organization_id"] = brand.organizations[0][0]
    expected = _brute(brand, key, **filters)
    got = [r["id"] for r in brand.select(key, **filters)]
    assert got == expected
    if len(expected) > 3:
        mid = expected[len(expected) // 2]
        filters["row_id"] = mid
        assert [r["id"] for r in brand.select(key, limit=2, **filters)] == expected[len(expected) // 2 :][:2]


def test_select_day_bounds_include_the_edges(brand: Brand) -> None:
    some = brand.select("payments", limit=50)[-1]
    day = some["created_at"].date()
    same_day = brand.select("payments", created_from=day, created_through=day)
    assert some["id"] in {r["id"] for r in same_day}
    assert all(r["created_at"].date() == day for r in same_day)


def test_select_by_organization(brand: Brand) -> None:
    for org_id, _ in brand.organizations:
        rows = brand.select("invoice_lines", organization_id=org_id)
        assert rows and all(r["organization_id"] == org_id for r in rows)
    assert brand.select("contacts", organization_id=1) == []


# --- advance_day ------------------------------------------------------------------------------------------------


def test_advance_day_moves_today_and_keeps_records_consistent(days) -> None:
    b, _before, _events = days
    assert b.today == TODAY + timedelta(days=3)
    check(b)


def test_new_records_get_higher_ids_and_updates_land_in_the_new_days(days) -> None:
    b, before, _events = days
    first_new_day = datetime.combine(TODAY + timedelta(days=1), datetime.min.time())
    end = datetime.combine(b.today + timedelta(days=1), datetime.min.time())
    for key in KEYS:
        old_max = max(before[key])
        now = b.live(key)
        new = [r for rid, r in now.items() if rid not in before[key]]
        assert all(r["id"] > old_max for r in new), key
        assert all(first_new_day <= r["created_at"] < end for r in new), key
        changed = [r for rid, r in now.items() if rid in before[key] and r != before[key][rid]]
        for r in changed:
            assert first_new_day <= r["updated_at"] < end, (key, r)
            assert r["updated_at"] > before[key][r["id"]]["updated_at"]
    for key in ("contacts", "appointments", "invoices", "invoice_lines", "payments"):
        assert any(rid not in before[key] for rid in b.live(key)), f"no new {key}"
    for key in ("contacts", "appointments", "invoices"):
        assert any(rid in before[key] and r != before[key][rid] for rid, r in b.live(key).items()), f"no {key} update"


def test_days_complete_and_cancel_appointments(days) -> None:
    b, before, _events = days
    now = b.live("appointments")
    completed = [rid for rid, r in now.items() if r["status"] == "Completed" and rid in before["appointments"]]
    newly = [rid for rid in completed if before["appointments"][rid]["status"] != "Completed"]
    assert newly
    canceled = [
        rid
        for rid, r in now.items()
        if r["status"] == "Canceled"
        and rid in before["appointments"]
        and before["appointments"][rid]["status"] != r["status"]
    ]
    assert canceled


def test_future_recurring_instances_are_recreated_with_new_ids(days) -> None:
    b, before, _events = days
    old = before["appointments"]
    gone = [
        d
        for d in b.deletions
        if d.kind_key == "appointments"
        and d.entity_id in old
        and old[d.entity_id]["recurring"]
        and old[d.entity_id]["status"] in ("Scheduled", "Unassigned")
    ]
    assert gone
    now = b.live("appointments")
    for d in gone:
        was = old[d.entity_id]
        assert was["scheduled_start"] > d.deleted_at
        assert d.entity_id not in now
        again = [
            r
            for r in now.values()
            if r["recurrence_id"] == was["recurrence_id"] and r["id"] > d.entity_id and r["created_at"] >= d.deleted_at
        ]
        assert again, f"series {was['recurrence_id']} was not re-created"


def test_deletions_are_recorded_in_order_and_gone_from_live(days) -> None:
    b, before, _events = days
    assert b.deletions and all(isinstance(d, Deletion) for d in b.deletions)
    assert [d.deleted_at for d in b.deletions] == sorted(d.deleted_at for d in b.deletions)
    for d in b.deletions:
        assert d.entity_id not in b.live(d.kind_key)
        assert TODAY < d.deleted_at.date() <= b.today
        assert d.organization_id in dict(b.organizations)
        if d.entity_id in before[d.kind_key]:
            assert before[d.kind_key][d.entity_id]["organization_id"] == d.organization_id
    assert {d.kind_key for d in b.deletions} == set(KEYS)  # every kind is deleted within a few days
    assert any(not d.feed_event for d in b.deletions)
    share = sum(d.feed_event for d in b.deletions) / len(b.deletions)
    assert 0.75 <= share <= 0.97


def test_entity_deleted_events_match_the_deletions_that_reach_the_feed(days) -> None:
    b, _before, events = days
    deleted = [e for day in events for e in day if e["TransactionKind"] == 3]
    expected = [(KINDS_BY_KEY[d.kind_key].entity_type, d.entity_id) for d in b.deletions if d.feed_event]
    assert [(e["EntityType"], e["EntityId"]) for e in deleted] == expected
    assert {e["EntityType"] for e in deleted} == {k.entity_type for k in ALL_KINDS}
    by_id = {d.entity_id: d for d in b.deletions}
    for e in deleted:
        assert e["OrganizationId"] == by_id[e["EntityId"]].organization_id
        assert _parse_dt(e["DeletedAt"]) == by_id[e["EntityId"]].deleted_at


_CONTACT_BLOCK = {
    "PriPhone", "AltPhone", "Email", "Name", "Address1", "Address2", "City", "State", "PostalCode",
    "TransactionDate", "Subtotal", "LifetimeValue", "CreatedAt", "CustomerSince", "DigitalTrackingId", "ContactId",
}  # fmt: skip
_EXTRA = {
    0: {"InvoiceId", "InvoiceNumber", "Total"},
    1: {"AppointmentId", "Service"},
    2: {"ProposalId", "Status"},
    3: {"EntityType", "EntityId", "DeletedAt"},
}
_DATETIME = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2}) (\d{2}):(\d{2}):(\d{2})")
_DATE = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})")


def _parse_dt(s: str) -> datetime:
    m = _DATETIME.fullmatch(s)
    assert m, s
    return datetime(*map(int, m.groups()))


def _money(v: object) -> Decimal:
    assert isinstance(v, str | float), v
    return Decimal(v) if isinstance(v, str) else Decimal(str(v))


def test_events_have_the_contract_shape(days) -> None:
    b, _before, events = days
    flat = [e for day in events for e in day]
    assert {e["TransactionKind"] for e in flat} == {0, 1, 2, 3}
    spellings = set()
    for e in flat:
        kind = e["TransactionKind"]
        assert "Id" not in e
        common = {"TransactionKind", "OrganizationId"}
        expected = common | _EXTRA[kind] | (_CONTACT_BLOCK if kind != 3 else set())
        assert set(e) == expected, kind
        assert e["OrganizationId"] in dict(b.organizations)
        for name in ("TransactionDate", "CreatedAt", "DeletedAt"):
            if name in e:
                _parse_dt(e[name])
                spellings.add("padded" if re.match(r"\d{4}-\d\d-\d\d ", e[name]) else "short")
        if kind != 3:
            assert e["CustomerSince"] is None or _DATE.fullmatch(e["CustomerSince"])
            for name in ("Subtotal", "LifetimeValue", *(("Total",) if kind == 0 else ())):
                _money(e[name])
    assert spellings == {"padded", "short"}
    assert any(isinstance(e.get("Subtotal"), str) for e in flat) and any(
        isinstance(e.get("Subtotal"), float) for e in flat
    )


def test_events_describe_the_records(days) -> None:
    b, _before, events = days
    flat = [e for day in events for e in day]
    appointments, invoices, proposals = b.live("appointments"), b.live("invoices"), b.live("proposals")
    contacts = b.live("contacts")
    seen_kinds = Counter()
    for e in flat:
        kind = e["TransactionKind"]
        if kind == 3:
            continue
        contact = contacts.get(e["ContactId"])
        if contact is not None:
            assert e["Name"] == contact["name"] and e["PostalCode"] == contact["postal_code"]
            assert _parse_dt(e["CreatedAt"]) == contact["created_at"]
        if kind == 1 and e["AppointmentId"] in appointments:
            a = appointments[e["AppointmentId"]]
            assert a["status"] == "Completed" and a["contact_id"] == e["ContactId"]
            assert _parse_dt(e["TransactionDate"]) == a["completed_at"] and e["Service"] == a["service"]
            assert _money(e["Subtotal"]) == a["subtotal"]
            seen_kinds[1] += 1
        elif kind == 0 and e["InvoiceId"] in invoices:
            i = invoices[e["InvoiceId"]]
            assert i["contact_id"] == e["ContactId"] and e["InvoiceNumber"] == i["invoice_number"]
            assert _parse_dt(e["TransactionDate"]) == i["created_at"] and i["created_at"].date() > TODAY
            seen_kinds[0] += 1
        elif kind == 2 and e["ProposalId"] in proposals:
            p = proposals[e["ProposalId"]]
            assert p["contact_id"] == e["ContactId"]
            assert e["Status"] in ("Open", "Accepted", "Declined", "Expired")
            seen_kinds[2] += 1
    assert seen_kinds[0] and seen_kinds[1] and seen_kinds[2]


def test_events_come_in_time_order(days) -> None:
    _b, _before, events = days
    for day in events:
        stamps = [_parse_dt(e.get("TransactionDate") or e["DeletedAt"]) for e in day]
        assert stamps == sorted(stamps)


def test_a_big_brand_is_frozen_out_of_the_garbage_collector(monkeypatch: pytest.MonkeyPatch) -> None:
    import gc

    import pipelines.sandbox.brand as brand_module

    monkeypatch.setattr(brand_module, "FREEZE_FROM", 100)
    gc.unfreeze()
    try:
        b = Brand(1, 200, TODAY)
        assert gc.get_freeze_count() > 0
        assert gc.isenabled()
        b.advance_day()  # still works on frozen records
        check(b)
    finally:
        gc.unfreeze()
    assert gc.get_freeze_count() == 0
    Brand(1, 50, TODAY)
    assert gc.get_freeze_count() == 0  # small brands leave the collector alone
