"""Consistency checks of a Brand's records, shared by the brand tests."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from pipelines.sandbox.brand import Brand


def check(brand: Brand) -> None:
    """Assert the brand's cross-record invariants. References to hard-deleted records are allowed (orphans)."""
    live = {
        k: brand.live(k) for k in ("contacts", "appointments", "invoices", "invoice_lines", "proposals", "payments")
    }
    deleted = defaultdict(set)
    for d in brand.deletions:
        deleted[d.kind_key].add(d.entity_id)

    def ref(kind: str, rid: int | None) -> dict | None:
        if rid is None:
            return None
        if rid in live[kind]:
            return live[kind][rid]
        assert rid in deleted[kind], f"dangling {kind} reference {rid}"
        return None

    org_names = dict(brand.organizations)
    for kind, records in live.items():
        ids = list(records)
        assert ids == sorted(ids)
        for r in records.values():
            assert r["created_at"] <= r["updated_at"], (kind, r)
            assert r["organization_id"] in org_names
            if "organization" in r:
                assert r["organization"] == org_names[r["organization_id"]]

    for a in live["appointments"].values():
        c = ref("contacts", a["contact_id"])
        if c is not None:
            assert c["organization_id"] == a["organization_id"]
        assert (a["status"] == "Completed") == (a["completed_at"] is not None)
        assert (a["status"] == "Canceled") == (a["cancel_reason"] is not None)
        assert a["recurring"] == (a["recurrence_id"] is not None)
        if a["status"] != "Canceled":
            assert (a["service_agent"] is None) == (a["status"] == "Unassigned"), a

    lines = defaultdict(list)
    for line in live["invoice_lines"].values():
        lines[line["invoice_id"]].append(line)
        assert line["extended_total"] == (line["quantity"] * line["unit_price"]).quantize(Decimal("0.01"))
    payments = defaultdict(Decimal)
    for p in live["payments"].values():
        inv = ref("invoices", p["invoice_id"])
        if inv is not None:
            assert inv["contact_id"] == p["contact_id"] and inv["organization_id"] == p["organization_id"]
        payments[p["invoice_id"]] += p["amount"]
    for inv in live["invoices"].values():
        a = ref("appointments", inv["appointment_id"])
        if a is not None:
            assert a["status"] == "Completed" and a["contact_id"] == inv["contact_id"]
        p = ref("proposals", inv["proposal_id"])
        if p is not None:
            assert p["status"] == "Accepted"
        c = ref("contacts", inv["contact_id"])
        if c is not None:
            assert c["organization_id"] == inv["organization_id"]
        assert sum(x["extended_total"] for x in lines[inv["id"]]) == inv["subtotal"], inv
        assert inv["total"] == inv["subtotal"] - inv["discount"] + inv["tax"]
        assert inv["amount_paid"] == payments.get(inv["id"], Decimal("0.00")), inv
        assert inv["balance_due"] == inv["total"] - inv["amount_paid"]
        if inv["status"] == "Void":
            assert inv["amount_paid"] == 0
        else:
            assert (inv["status"] == "Paid") == (inv["amount_paid"] >= inv["total"]), inv
        assert (inv["date_paid"] is not None) == (inv["status"] == "Paid")

    first_done: dict[int, object] = {}
    for a in live["appointments"].values():
        if a["status"] == "Completed":
            d = a["completed_at"].date()
            if a["contact_id"] not in first_done or d < first_done[a["contact_id"]]:
                first_done[a["contact_id"]] = d
    ltv = defaultdict(Decimal)
    for p in live["payments"].values():
        ltv[p["contact_id"]] += p["amount"]
    for c in live["contacts"].values():
        assert c["customer_since"] == first_done.get(c["id"]), c
        assert c["lifetime_value"] == ltv.get(c["id"], Decimal("0.00")), c
        assert c["lifetime_value"].as_tuple().exponent == -2
        if c["customer_since"] is not None:
            assert c["category"] in ("Customer", "Inactive")
    for p in live["proposals"].values():
        assert (p["accepted_at"] is not None) == (p["status"] == "Accepted")
        assert p["expires_on"] > p["proposal_date"]
