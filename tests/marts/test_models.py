"""The models as a public interface: the tables the issue names, documented, tested, and portable to the warehouses
that a brand outgrowing one machine would move to (Snowflake, BigQuery: rendered and parsed back, not run).
"""

from __future__ import annotations

import pytest
import sqlglot
from sqlglot import exp

from tests.marts.brand import LoadedBrand, connected, project
from warehouse.models import table_references
from warehouse.render import render_query

MARTS = {
    "marts.dim_organizations": {"organization_id", "organization_name", "first_activity_at", "last_activity_at",
                                "contacts", "customers"},
    "marts.dim_contacts": {"contact_id", "organization_id", "name", "company", "email", "primary_phone", "city",
                           "state", "postal_code", "category", "lead_source", "channel", "campaign", "customer_since",
                           "created_at", "updated_at", "first_appointment_at", "last_completed_appointment_at",
                           "completed_appointments", "lifetime_invoiced", "lifetime_paid"},
    "marts.fct_appointments": {"appointment_id", "organization_id", "contact_id", "service", "service_agent", "status",
                               "scheduled_start", "scheduled_date", "duration_minutes", "completed_at", "canceled_at",
                               "cancel_reason", "is_recurring", "recurrence_id", "subtotal", "created_at",
                               "updated_at"},
    "marts.fct_invoices": {"invoice_id", "organization_id", "contact_id", "appointment_id", "proposal_id",
                           "invoice_number", "invoice_date", "status", "subtotal", "discount", "tax", "total",
                           "amount_paid", "balance_due", "date_paid"},
    "marts.fct_invoice_lines": {"invoice_line_id", "invoice_id", "organization_id", "service", "description",
                                "quantity", "unit_price", "extended_total", "is_taxable", "created_at", "updated_at"},
    "marts.fct_proposals": {"proposal_id", "organization_id", "contact_id", "status", "proposal_date", "accepted_at",
                            "expires_on", "total", "created_at", "updated_at"},
    "marts.fct_payments": {"payment_id", "organization_id", "invoice_id", "contact_id", "payment_date", "method",
                           "amount", "reference", "created_at", "updated_at"},
    "marts.fct_deletions": {"entity_type", "entity_id", "organization_id", "deleted_at", "detected_at", "detected_by",
                            "total", "scheduled_start"},
    "marts.fct_feed_events": {"event_id", "transaction_kind", "event_type", "organization_id", "contact_id",
                              "entity_type", "entity_id", "transaction_date", "total", "received_at"},
    "reports.organization_monthly": {"organization_id", "month_start", "appointments_scheduled",
                                     "appointments_completed", "appointments_canceled", "new_customers",
                                     "invoices_issued", "gross_sales", "collected", "average_ticket",
                                     "proposals_created", "proposals_accepted", "close_rate"},
}  # fmt: skip


def test_the_named_tables_exist_with_their_columns_all_documented(duckdb_brand: LoadedBrand) -> None:
    models = project().models
    assert set(MARTS) == {n for n in models if n.startswith(("marts.", "reports."))}
    assert duckdb_brand.build is not None
    assert all(not m.warnings for m in duckdb_brand.build.models), "a column without a description"
    with connected(duckdb_brand.target) as conn:
        for name, required in MARTS.items():
            columns = conn.columns(*name.split("."))
            assert required <= set(columns), f"{name} lacks {required - set(columns)}"
            documented = {c.name for c in models[name].config.columns if c.description}
            assert set(columns) == documented, name


def test_every_model_states_a_grain_and_tests_its_statuses() -> None:
    for name, model in project().models.items():
        assert model.grain, name
        for column in model.config.columns:
            kinds = {t.kind for t in column.tests}
            if column.name in ("status", "detected_by", "category", "method"):
                assert "accepted_values" in kinds, f"{name}.{column.name}"
            if column.name == "organization_id" and name.startswith(("marts.fct_", "marts.dim_contacts")):
                assert "relationships" in kinds, f"{name}.{column.name}"
        for test in model.config.all_tests:
            if test.kind == "relationships" and test.severity == "warn":
                column = model.config.column(test.column or "")
                assert column and "only warns" in (column.description or ""), f"{name}.{test.column}: say why"


@pytest.mark.parametrize("dialect", ["snowflake", "bigquery"])
def test_every_model_renders_for_and_parses_back_in(dialect: str) -> None:
    for name, model in project().models.items():
        sql = render_query(model.ast, dialect, what=f"model {name}")
        parsed = sqlglot.parse_one(sql, read=dialect)
        assert isinstance(parsed, exp.Query), name
        read = {".".join(p.name for p in (t.args.get("db"), t.this)) for t in table_references(parsed)}
        assert read == set(model.depends_on) | set(model.sources), name
