"""The full-refresh policy: every N days per kind, forced with --full-refresh, requested by a feed purge gap."""

from __future__ import annotations

from datetime import date, timedelta

from warehouse.nightly import ALL_KIND_KEYS, plan_full_refresh

DAY = date(2026, 5, 20)


def state(last_full: date, watermark: date | None = None) -> dict:
    return {"watermark": (watermark or last_full).isoformat(), "last_full_refresh": last_full.isoformat()}


def test_a_kind_without_a_watermark_is_loaded_in_full() -> None:
    plan = plan_full_refresh({"contacts": state(DAY)}, {}, None, DAY, 7)
    assert set(plan) == set(ALL_KIND_KEYS) - {"contacts"}
    assert all(reason == "first load" for reason in plan.values())


def test_a_kind_is_refreshed_when_its_last_full_refresh_is_n_days_old() -> None:
    kinds = {k: state(DAY - timedelta(days=6)) for k in ALL_KIND_KEYS}
    kinds["invoices"] = state(DAY - timedelta(days=7))
    kinds["payments"] = state(DAY - timedelta(days=30))
    plan = plan_full_refresh(kinds, {}, None, DAY, 7)
    assert set(plan) == {"invoices", "payments"}
    assert plan["invoices"].startswith("due: the last one was on 2026-05-13")


def test_zero_days_turns_the_schedule_off_but_not_the_first_load_or_a_request() -> None:
    kinds = {k: state(DAY - timedelta(days=400)) for k in ALL_KIND_KEYS}
    del kinds["proposals"]
    plan = plan_full_refresh(kinds, {"payments": "gap"}, None, DAY, 0)
    assert set(plan) == {"proposals", "payments"}


def test_full_refresh_without_kinds_forces_all_and_with_kinds_forces_those() -> None:
    kinds = {k: state(DAY) for k in ALL_KIND_KEYS}
    assert set(plan_full_refresh(kinds, {}, [], DAY, 7)) == set(ALL_KIND_KEYS)
    assert plan_full_refresh(kinds, {}, ["contacts"], DAY, 7) == {"contacts": "asked for with --full-refresh"}
    assert plan_full_refresh(kinds, {}, None, DAY, 7) == {}


def test_a_purge_gap_requests_a_full_refresh() -> None:
    kinds = {k: state(DAY) for k in ALL_KIND_KEYS}
    plan = plan_full_refresh(kinds, {"appointments": "feed gap"}, None, DAY, 7)
    assert list(plan) == ["appointments"]
    assert "purge" in plan["appointments"]


def test_a_recorded_refresh_without_a_date_is_due() -> None:
    plan = plan_full_refresh({k: {"watermark": DAY.isoformat()} for k in ALL_KIND_KEYS}, {}, None, DAY, 7)
    assert set(plan) == set(ALL_KIND_KEYS)
