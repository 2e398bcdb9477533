"""The data tests declared on the real models catch bad data: one case per kind of test, blocking and warning.

Each case starts from a copy of the DuckDB brand (built, every test passing), corrupts one thing, builds again and
checks that the right test of the right model fails, that a blocking failure keeps the previous version of the
model and everything downstream of it, and that a warning does not stop the build.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.marts.brand import LoadedBrand, build, connected, project
from warehouse.build import EXIT_OK, EXIT_TESTS_FAILED, BuildResult
from warehouse.checks import run_tests
from warehouse.target import Target, parse_target


@pytest.fixture
def brand_copy(duckdb_brand: LoadedBrand, tmp_path: Path) -> Target:
    source = Path(duckdb_brand.warehouse.location)
    copy = tmp_path / "copy.duckdb"
    shutil.copy(source, copy)
    wal = source.with_name(source.name + ".wal")
    if wal.exists():
        shutil.copy(wal, copy.with_name(copy.name + ".wal"))
    return parse_target(f"duckdb:///{copy}")


def corrupt(target: Target, *statements: str) -> None:
    with connected(target) as conn:
        for sql in statements:
            conn.execute(sql)


def count(target: Target, relation: str) -> int:
    with connected(target) as conn:
        return int(conn.query(f"select count(*) from {relation}")[0][0])


def failed(result: BuildResult, model: str) -> list[str]:
    """The blocking failures of ``model``'s own tests (a relationships test may run with the model it points at)."""
    return [t.test for m in result.models for t in m.failed_tests if t.model == model]


def warned(result: BuildResult, model: str) -> list[str]:
    return [t.test for m in result.models for t in m.warned_tests if t.model == model]


def assert_blocked(result: BuildResult, model: str, test: str) -> None:
    assert result.exit_code == EXIT_TESTS_FAILED
    assert failed(result, model) == [test]
    problem = result.first_problem() or ""
    assert model in problem and test in problem, problem


def test_unique_blocks_a_duplicated_record_and_keeps_everything_downstream(brand_copy: Target) -> None:
    contacts_before = count(brand_copy, "marts.dim_contacts")
    corrupt(brand_copy, "insert into raw.contacts select * from raw.contacts order by id limit 1")
    result = build(brand_copy, ["staging.stg_contacts+"])
    assert_blocked(result, "staging.stg_contacts", "unique(contact_id)")
    skipped = {m.model for m in result.models if m.status == "skipped"}
    assert {"marts.dim_contacts", "marts.dim_organizations", "reports.organization_monthly"} <= skipped
    assert count(brand_copy, "staging.stg_contacts") == contacts_before  # the previous version stays
    assert count(brand_copy, "marts.dim_contacts") == contacts_before


def test_not_null_blocks_an_appointment_without_organization(brand_copy: Target) -> None:
    corrupt(
        brand_copy,
        "update raw.appointments set organization_id = null where id = (select min(id) from raw.appointments)",
    )
    assert_blocked(
        build(brand_copy, ["staging.stg_appointments"]), "staging.stg_appointments", "not_null(organization_id)"
    )


def test_accepted_values_blocks_an_unknown_status(brand_copy: Target) -> None:
    corrupt(brand_copy, "update raw.invoices set status = 'Cancelled' where id = (select min(id) from raw.invoices)")
    assert_blocked(build(brand_copy, ["staging.stg_invoices"]), "staging.stg_invoices", "accepted_values(status)")


def test_accepted_values_on_a_descriptive_column_only_warns(brand_copy: Target) -> None:
    corrupt(brand_copy, "update raw.contacts set category = 'VIP' where id = (select min(id) from raw.contacts)")
    result = build(brand_copy, ["staging.stg_contacts", "marts.dim_contacts"])
    assert result.exit_code == EXIT_OK, result.first_problem()
    assert warned(result, "marts.dim_contacts") == ["accepted_values(category)"]
    assert warned(result, "staging.stg_contacts") == ["accepted_values(category)"]


def test_relationships_to_a_hard_deletable_parent_warn_without_blocking(brand_copy: Target) -> None:
    corrupt(brand_copy, "update raw.payments set invoice_id = 1 where id = (select min(id) from raw.payments)")
    result = build(brand_copy, ["staging.stg_payments", "marts.fct_payments"])
    assert result.exit_code == EXIT_OK, result.first_problem()
    assert "relationships(invoice_id -> marts.fct_invoices.invoice_id)" in warned(result, "marts.fct_payments")
    (test,) = [t for m in result.models for t in m.warned_tests if t.test.startswith("relationships(invoice_id")]
    assert test.failures == 1 and "invoice_id=1" in test.message


def test_relationships_to_organizations_block(brand_copy: Target) -> None:
    corrupt(
        brand_copy,
        "delete from marts.dim_organizations "
        "where organization_id = (select min(organization_id) from marts.dim_organizations)",
    )
    before = count(brand_copy, "marts.fct_appointments")
    result = build(brand_copy, ["marts.fct_appointments"])
    assert_blocked(
        result, "marts.fct_appointments", "relationships(organization_id -> marts.dim_organizations.organization_id)"
    )
    assert count(brand_copy, "marts.fct_appointments") == before


def test_an_expression_on_invoice_arithmetic_warns(brand_copy: Target) -> None:
    corrupt(
        brand_copy,
        "update raw.invoices set balance_due = balance_due + 1 where id = (select min(id) from raw.invoices)",
    )
    result = build(brand_copy, ["staging.stg_invoices", "marts.fct_invoices"])
    assert result.exit_code == EXIT_OK, result.first_problem()
    assert "expression(balance_due = total - amount_paid)" in warned(result, "marts.fct_invoices")


def test_an_expression_on_the_report_blocks(brand_copy: Target) -> None:
    corrupt(
        brand_copy,
        "update reports.organization_monthly set proposals_accepted = proposals_created + 1 "
        "where month_start = (select max(month_start) from reports.organization_monthly)",
    )
    with connected(brand_copy) as conn:
        results = run_tests(conn, project(), ["reports.organization_monthly"])
    failing = [r for r in results if r.blocking_failure]
    assert [r.test for r in failing] == ["expression(proposals_accepted <= proposals_created)"]
    assert failing[0].model == "reports.organization_monthly"
    assert all(r.status == "pass" for r in results if r not in failing)
