"""The marts against the sandbox's truth, on DuckDB and PostgreSQL, after a first load, a few days of incremental runs
and a final full refresh: every row, every id, every monthly figure to the cent, every deletion once.
"""

from __future__ import annotations

from typing import Any

from pipelines.serviceminder.kinds import KINDS_BY_ENTITY_TYPE, KINDS_BY_KEY
from tests.marts import reference
from tests.marts.brand import LoadedBrand, connected, records

MONEY_PLACES = 2


def assert_rows_match(relation: str, actual: dict[Any, dict[str, Any]], expected: dict[Any, dict[str, Any]]) -> None:
    """Same keys; on every row, every column the expectation names holds the same value (money to the cent)."""
    missing, extra = set(expected) - set(actual), set(actual) - set(expected)
    assert not missing and not extra, f"{relation}: {len(missing)} rows missing, e.g. {sorted(missing)[:3]}; " + (
        f"{len(extra)} unexpected, e.g. {sorted(extra)[:3]}"
    )
    for key, want in expected.items():
        got = actual[key]
        diffs = {c: (got[c], v) for c, v in want.items() if c in got and got[c] != v}
        assert not diffs, f"{relation} {key}: (got, expected) {diffs}"


def test_the_build_passes_every_blocking_data_test(loaded_brand: LoadedBrand) -> None:
    result = loaded_brand.build
    assert result is not None
    assert result.ok, result.first_problem()
    tests = [t for m in result.models for t in m.tests]
    assert len(tests) > 100
    # the only warnings a healthy brand gives: records of contacts serviceminder hard-deleted (it keeps them)
    for m in result.models:
        for warned in m.warned_tests:
            assert warned.kind == "relationships" and "dim_contacts" in warned.test, warned.message


def test_facts_and_dimensions_hold_exactly_the_live_records(loaded_brand: LoadedBrand) -> None:
    truth = loaded_brand.truth
    with connected(loaded_brand.target) as conn:
        for relation, (kind_key, key) in reference.FACTS.items():
            actual = records(conn, relation, key)
            expected = {i: reference.expected_fact_row(kind_key, r, key) for i, r in truth.live[kind_key].items()}
            assert_rows_match(relation, actual, expected)
            deleted = truth.deleted_ids(kind_key) & set(actual)
            assert not deleted, f"{relation} holds deleted ids {sorted(deleted)[:5]}"
        organizations = records(conn, "marts.dim_organizations", "organization_id")
    assert_rows_match(
        "marts.dim_organizations",
        organizations,
        reference.organizations(truth, loaded_brand.organization_names),
    )


def test_contact_figures_match_the_truth(loaded_brand: LoadedBrand) -> None:
    with connected(loaded_brand.target) as conn:
        contacts = records(conn, "marts.dim_contacts", "contact_id")
    expected = reference.contact_figures(loaded_brand.truth)
    assert_rows_match("marts.dim_contacts", contacts, expected)
    assert any(c["completed_appointments"] > 1 for c in contacts.values())
    assert any(c["lifetime_paid"] > 0 for c in contacts.values())


def test_monthly_report_matches_the_truth_to_the_cent(loaded_brand: LoadedBrand) -> None:
    with connected(loaded_brand.target) as conn:
        names, rows = conn.query_with_names("select * from reports.organization_monthly")
    actual = {(r[0], r[1]): dict(zip(names, r, strict=True)) for r in rows}
    assert len(actual) == len(rows), "one row per organization and month"
    expected = reference.organization_monthly(loaded_brand.truth, loaded_brand.organization_names)
    assert_rows_match("reports.organization_monthly", actual, expected)

    # the three figures the issue names, once more on their own, and the zero months the spine fills in
    for key, want in expected.items():
        for column in ("gross_sales", "collected", "appointments_completed"):
            assert actual[key][column] == want[column], (key, column)
    figures = [c for c in names if c not in ("organization_id", "month_start", "organization_name")]
    assert any(all(row[c] in (0, None) for c in figures) for row in actual.values()), "no zero-filled month"
    for row in actual.values():
        for column in ("gross_sales", "collected", "average_ticket"):
            value = row[column]
            assert value is None or -value.as_tuple().exponent == MONEY_PLACES, (column, value)


def test_every_known_deletion_is_in_fct_deletions_once(loaded_brand: LoadedBrand) -> None:
    truth = loaded_brand.truth
    with connected(loaded_brand.target) as conn:
        names, rows = conn.query_with_names("select * from marts.fct_deletions")
        feed_deletes = conn.query("select entity_type, entity_id from marts.fct_feed_events where transaction_kind = 3")
        events = conn.query("select count(*) from marts.fct_feed_events")[0][0]
    deletions = {(r[0], r[1]): dict(zip(names, r, strict=True)) for r in rows}
    assert len(deletions) == len(rows), "one row per deleted entity"

    # knowable: the feed reported it, or the warehouse had loaded the record (the full refresh then misses it)
    knowable = {
        (KINDS_BY_KEY[d.kind_key].entity_type, d.entity_id): d
        for d in truth.deletions
        if d.feed_event or d.entity_id in loaded_brand.raw_ids[d.kind_key]
    }
    assert set(deletions) == set(knowable)
    assert {d.kind_key for d in knowable.values()} == set(KINDS_BY_KEY), "every kind should have a deletion"
    assert any(not d.feed_event for d in knowable.values()), "some deletes should be found by the full refresh only"

    for key, d in knowable.items():
        row = deletions[key]
        assert row["organization_id"] == d.organization_id, key
        assert row["deleted_at"] == (d.deleted_at if d.feed_event else None), key
        assert row["has_record"] == (d.entity_id in loaded_brand.raw_ids[d.kind_key]), key
        if not d.feed_event:
            assert row["detected_by"] == "full_refresh", key

    # the last known key figures, where the warehouse had the record
    raw_records = {kind_key: loaded_brand.warehouse.records(kind) for kind_key, kind in KINDS_BY_KEY.items()}
    figures = {"Invoice": "total", "Proposal": "total", "Payment": "amount", "InvoiceLine": "extended_total"}
    for (entity_type, entity_id), row in deletions.items():
        record = raw_records[KINDS_BY_ENTITY_TYPE[entity_type].key].get(entity_id)
        if record is None:
            continue
        if entity_type == "Appointment":
            assert row["scheduled_start"] == record["scheduled_start"]
            assert row["subtotal"] == record["subtotal"]
        elif entity_type in figures:
            assert row[figures[entity_type]] == record[figures[entity_type]], (entity_type, entity_id)

    # the feed's Entity Deleted events, typed, are exactly the deletes the feed did not lose
    assert {(t, i) for t, i in feed_deletes} == {k for k, d in knowable.items() if d.feed_event}
    assert events == loaded_brand.events_loaded
