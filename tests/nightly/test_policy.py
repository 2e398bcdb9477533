"""The full-refresh policy: every N days per kind, forced with --full-refresh, requested by a feed purge gap."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

from pipelines.sandbox import Sandbox
from pipelines.serviceminder.feed import full_refresh_requested
from pipelines.serviceminder.pipeline import make_pipeline as dlt_pipeline
from tests.nightly.conftest import make_config, nightly
from warehouse.nightly import ALL_KIND_KEYS, dlt_destination, plan_full_refresh
from warehouse.run_config import RunConfig

DAY = date(2026, 5, 20)


def make_pipeline(config: RunConfig):
    return dlt_pipeline(dlt_destination(config.target), pipelines_dir=config.pipelines_dir)


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


def test_a_purge_gap_makes_the_next_run_refresh_every_kind_once(
    sandbox: Sandbox, duckdb_url: str, tmp_path: Path
) -> None:
    config = make_config(duckdb_url, tmp_path)
    sandbox.advance_days(1)  # events to store, so that the next run can tell a jump in their Ids
    assert nightly(config, sandbox).exit_code == 0
    sandbox.advance_days(2)
    purged = sandbox.feed.pending()[:5]
    sandbox.feed.purge_oldest(5)  # serviceminder purged events nobody fetched

    gap = nightly(config, sandbox)
    assert gap.exit_code == 0, "a gap is a warning: the run itself succeeds"
    assert gap.result.record.full_refresh == {}
    assert any("purged 5 event(s)" in w for w in gap.result.record.warnings)
    assert full_refresh_requested(make_pipeline(config)) == set(ALL_KIND_KEYS)

    refresh = nightly(config, sandbox)
    reasons = set(refresh.result.record.full_refresh.values())
    assert set(refresh.result.record.full_refresh) == set(ALL_KIND_KEYS)
    assert reasons == {"the feed lost events to a purge, so deletions may be missing"}
    assert full_refresh_requested(make_pipeline(config)) == set(), "the refresh acknowledged the requests"

    lost = {(e["EntityType"], e["EntityId"]) for e in purged if e.get("TransactionKind") == 3}
    with config.target.connect() as conn:
        found = set(conn.query("select entity_type, entity_id from raw.deletions where detected_by = 'full_refresh'"))
        loaded = set(conn.query("select 'Appointment', id from raw.appointments union all select 'Invoice', id "
                                "from raw.invoices union all select 'Contact', id from raw.contacts union all "
                                "select 'Payment', id from raw.payments union all select 'Proposal', id from "
                                "raw.proposals union all select 'InvoiceLine', id from raw.invoice_lines"))  # fmt: skip
    assert lost & loaded, "the purge should take some deletes of loaded records (seeded)"
    assert lost & loaded <= found, "the refresh finds the deletes of loaded records that the purge took"
