"""Feed event payloads in the API's shape (contract §3), without the ``Id`` the feed queue assigns.

Date-times are ``YYYY-M-D HH:mm:ss`` strings, sometimes zero-padded (``2026-04-05 09:03:07``), as in
serviceminder's documented example. Money is a plain decimal string, or now and then a JSON number.
"""

from __future__ import annotations

import random
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from pipelines.sandbox.store import Row, Table

INVOICE, APPOINTMENT, PROPOSAL, DELETE = 0, 1, 2, 3


class Style:
    """How one event spells its dates and money (chosen per event)."""

    def __init__(self, r: random.Random) -> None:
        self.padded = r.random() < 0.35
        self.padded_date = r.random() < 0.5
        self.numbers = r.random() < 0.25

    def dt(self, v: datetime | None) -> str | None:
        if v is None:
            return None
        if self.padded:
            return f"{v.year}-{v.month:02d}-{v.day:02d} {v.hour:02d}:{v.minute:02d}:{v.second:02d}"
        return f"{v.year}-{v.month}-{v.day} {v.hour:02d}:{v.minute:02d}:{v.second:02d}"

    def date(self, v: date | None) -> str | None:
        if v is None:
            return None
        return f"{v.year}-{v.month:02d}-{v.day:02d}" if self.padded_date else f"{v.year}-{v.month}-{v.day}"

    def money(self, v: Decimal) -> str | float:
        return float(v) if self.numbers else str(v)


def _contact_block(style: Style, contacts: Table, contact: Row, when: datetime, subtotal: Decimal) -> dict[str, Any]:
    c = contacts.index
    return {
        "PriPhone": contact[c["primary_phone"]],
        "AltPhone": contact[c["alt_phone"]],
        "Email": contact[c["email"]],
        "Name": contact[c["name"]],
        "Address1": contact[c["address1"]],
        "Address2": contact[c["address2"]],
        "City": contact[c["city"]],
        "State": contact[c["state"]],
        "PostalCode": contact[c["postal_code"]],
        "TransactionDate": style.dt(when),
        "Subtotal": style.money(subtotal),
        "LifetimeValue": style.money(contact[c["lifetime_value"]]),
        "CreatedAt": style.dt(contact[c["created_at"]]),
        "CustomerSince": style.date(contact[c["customer_since"]]),
        "DigitalTrackingId": contact[c["digital_tracking_id"]],
        "ContactId": contact[c["id"]],
    }


def appointment_complete(r: random.Random, contacts: Table, contact: Row, appointment: dict[str, Any]) -> dict:
    style = Style(r)
    return {
        "TransactionKind": APPOINTMENT,
        "OrganizationId": appointment["organization_id"],
        **_contact_block(style, contacts, contact, appointment["completed_at"], appointment["subtotal"]),
        "AppointmentId": appointment["id"],
        "Service": appointment["service"],
    }


def invoice_generated(r: random.Random, contacts: Table, contact: Row, invoice: dict[str, Any]) -> dict:
    style = Style(r)
    return {
        "TransactionKind": INVOICE,
        "OrganizationId": invoice["organization_id"],
        **_contact_block(style, contacts, contact, invoice["created_at"], invoice["subtotal"]),
        "InvoiceId": invoice["id"],
        "InvoiceNumber": invoice["invoice_number"],
        "Total": style.money(invoice["total"]),
    }


def proposal_event(r: random.Random, contacts: Table, contact: Row, proposal: dict[str, Any]) -> dict:
    style = Style(r)
    return {
        "TransactionKind": PROPOSAL,
        "OrganizationId": proposal["organization_id"],
        **_contact_block(style, contacts, contact, proposal["updated_at"], proposal["total"]),
        "ProposalId": proposal["id"],
        "Status": proposal["status"],
    }


def entity_deleted(r: random.Random, entity_type: str, entity_id: int, organization_id: int, at: datetime) -> dict:
    return {
        "TransactionKind": DELETE,
        "OrganizationId": organization_id,
        "EntityType": entity_type,
        "EntityId": entity_id,
        "DeletedAt": Style(r).dt(at),
    }
