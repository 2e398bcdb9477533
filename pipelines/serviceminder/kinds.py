"""The six download kinds and the API paths: every assumed part of the contract lives here.

serviceminder documents only part of the Data Subscriber API (see shared/reference/serviceminder-api.md). Each
value marked ``[assumed]`` below is this project's guess. A user with a real key corrects them through dlt config,
without a code change, for example in ``.dlt/config.toml``::

    [sources.serviceminder.paths]
    download_status = "datasubscriber/downloadstatus"

    [sources.serviceminder.kind_tokens]
    invoices = "branding-invoices"
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

ColumnType = Literal["id", "int", "text", "money", "decimal", "timestamp", "date", "bool"]
"""Our own small type vocabulary; csv_arrow maps it to Arrow types and dlt column hints.

- ``id`` / ``int``: BIGINT
- ``money``: DECIMAL(18,2), never a float
- ``decimal``: DECIMAL(18,4) (quantities)
- ``timestamp``: local wall-clock time without a zone
- ``text``: also for phones, postal codes and tracking ids, so leading zeros stay
"""

DEFAULT_BASE_URL = "https://serviceminder.io/api/"
DEFAULT_PAGE_SIZE = 25_000  # [doc] at most this many rows per download


@dataclass(frozen=True)
class Column:
    header: str  # as it appears in the CSV header, e.g. "Organization Id"
    name: str  # snake_case warehouse name, e.g. "organization_id"
    type: ColumnType


@dataclass(frozen=True)
class Kind:
    key: str  # our short name and the resource name: "contacts", "invoice_lines", ...
    brand_token: str  # Kind at brand level: "branding-contacts"
    org_token: str  # Kind at organization level: "contacts"
    table: str  # raw table name in dataset ``raw``
    entity_type: str  # as the feed names it in Entity Deleted events: "Contact", "InvoiceLine", ...
    columns: tuple[Column, ...]
    primary_key: str = "id"
    cursor_column: str = "updated_at"
    created_column: str = "created_at"

    def token(self, org_level: bool) -> str:
        return self.org_token if org_level else self.brand_token

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)


@dataclass(frozen=True)
class ApiPaths:
    """Endpoint paths relative to the base URL. Brand-level and organization-level keys use different ones."""

    start_download: str
    download_status: str
    get_download: str
    fetch: str | None = None
    clear: str | None = None


BRAND_PATHS = ApiPaths(
    start_download="datasubscriber/startdownload",  # [doc]
    download_status="datasubscriber/downloadstatus",  # [assumed], by analogy with the org-level API
    get_download="datasubscriber/getdownload",  # [seen in a third-party catalog]
    fetch="datasubscriber/fetch",  # [seen in a third-party catalog]
    clear="datasubscriber/clear",  # [assumed]
)
ORG_PATHS = ApiPaths(
    start_download="download/startdownload",  # [seen]
    download_status="download/downloadstatus",  # [seen]
    get_download="download/getdownload",  # [seen]
)  # organization keys have no event feed


def paths_for(org_level: bool, overrides: dict[str, str] | None = None) -> ApiPaths:
    base = ORG_PATHS if org_level else BRAND_PATHS
    return replace(base, **overrides) if overrides else base


def _cols(*spec: tuple[str, ColumnType]) -> tuple[Column, ...]:
    return tuple(Column(header, snake_case(header), type_) for header, type_ in spec)


def snake_case(header: str) -> str:
    """``Organization Id`` -> ``organization_id``; ``Address1`` -> ``address1``; odd characters become ``_``."""
    out = []
    for ch in header.strip().lower():
        out.append(ch if ch.isalnum() else "_")
    name = "".join(out)
    while "__" in name:
        name = name.replace("__", "_")
    return name.strip("_") or "column"


_TIMESTAMPS: tuple[tuple[str, ColumnType], ...] = (("Created At", "timestamp"), ("Updated At", "timestamp"))

CONTACTS = Kind(
    key="contacts",
    brand_token="branding-contacts",  # [doc]
    org_token="contacts",
    table="contacts",
    entity_type="Contact",
    columns=_cols(
        ("Id", "id"),
        ("Organization Id", "id"),
        ("Organization", "text"),
        ("Name", "text"),
        ("Company", "text"),
        ("Email", "text"),
        ("Primary Phone", "text"),
        ("Alt Phone", "text"),
        ("Address1", "text"),
        ("Address2", "text"),
        ("City", "text"),
        ("State", "text"),
        ("Postal Code", "text"),
        ("Category", "text"),
        ("Lead Source", "text"),
        ("Channel", "text"),
        ("Campaign", "text"),
        ("Customer Since", "date"),
        ("Lifetime Value", "money"),
        ("Do Not Email", "bool"),
        ("Do Not Text", "bool"),
        ("Tags", "text"),
        ("Digital Tracking Id", "text"),
        *_TIMESTAMPS,
    ),
)
APPOINTMENTS = Kind(
    key="appointments",
    brand_token="branding-appointments",  # [doc]
    org_token="appointments",
    table="appointments",
    entity_type="Appointment",
    columns=_cols(
        ("Id", "id"),
        ("Organization Id", "id"),
        ("Organization", "text"),
        ("Contact Id", "id"),
        ("Service", "text"),
        ("Service Agent", "text"),
        ("Status", "text"),
        ("Scheduled Start", "timestamp"),
        ("Duration Minutes", "int"),
        ("Completed At", "timestamp"),
        ("Canceled At", "timestamp"),
        ("Cancel Reason", "text"),
        ("Recurring", "bool"),
        ("Recurrence Id", "id"),
        ("Subtotal", "money"),
        *_TIMESTAMPS,
    ),
)
INVOICES = Kind(
    key="invoices",
    brand_token="branding-invoices",  # [assumed]
    org_token="invoices",
    table="invoices",
    entity_type="Invoice",
    columns=_cols(
        ("Id", "id"),
        ("Organization Id", "id"),
        ("Organization", "text"),
        ("Contact Id", "id"),
        ("Appointment Id", "id"),
        ("Proposal Id", "id"),
        ("Invoice Number", "text"),
        ("Invoice Date", "date"),
        ("Status", "text"),
        ("Subtotal", "money"),
        ("Discount", "money"),
        ("Tax", "money"),
        ("Total", "money"),
        ("Amount Paid", "money"),
        ("Balance Due", "money"),
        ("Date Paid", "date"),
        *_TIMESTAMPS,
    ),
)
INVOICE_LINES = Kind(
    key="invoice_lines",
    brand_token="branding-invoicelines",  # [assumed]
    org_token="invoicelines",
    table="invoice_lines",
    entity_type="InvoiceLine",
    columns=_cols(
        ("Id", "id"),
        ("Invoice Id", "id"),
        ("Organization Id", "id"),
        ("Service", "text"),
        ("Description", "text"),
        ("Quantity", "decimal"),
        ("Unit Price", "money"),
        ("Extended Total", "money"),
        ("Taxable", "bool"),
        *_TIMESTAMPS,
    ),
)
PROPOSALS = Kind(
    key="proposals",
    brand_token="branding-proposals",  # [assumed]
    org_token="proposals",
    table="proposals",
    entity_type="Proposal",
    columns=_cols(
        ("Id", "id"),
        ("Organization Id", "id"),
        ("Contact Id", "id"),
        ("Status", "text"),
        ("Proposal Date", "date"),
        ("Accepted At", "timestamp"),
        ("Expires On", "date"),
        ("Total", "money"),
        *_TIMESTAMPS,
    ),
)
PAYMENTS = Kind(
    key="payments",
    brand_token="branding-payments",  # [assumed]
    org_token="payments",
    table="payments",
    entity_type="Payment",
    columns=_cols(
        ("Id", "id"),
        ("Organization Id", "id"),
        ("Invoice Id", "id"),
        ("Contact Id", "id"),
        ("Payment Date", "date"),
        ("Method", "text"),
        ("Amount", "money"),
        ("Reference", "text"),
        *_TIMESTAMPS,
    ),
)

ALL_KINDS: tuple[Kind, ...] = (CONTACTS, APPOINTMENTS, INVOICES, INVOICE_LINES, PROPOSALS, PAYMENTS)
KINDS_BY_KEY: dict[str, Kind] = {k.key: k for k in ALL_KINDS}
KINDS_BY_ENTITY_TYPE: dict[str, Kind] = {k.entity_type: k for k in ALL_KINDS}


def with_token_overrides(kinds: tuple[Kind, ...], overrides: dict[str, str] | None) -> tuple[Kind, ...]:
    """Apply ``[sources.serviceminder.kind_tokens]`` overrides (brand-level tokens, keyed by kind key)."""
    if not overrides:
        return kinds
    unknown = set(overrides) - {k.key for k in kinds}
    if unknown:
        raise ValueError(
            f"unknown kind(s) in sources.serviceminder.kind_tokens: {', '.join(sorted(unknown))}; "
            f"expected some of {', '.join(k.key for k in kinds)}"
        )
    return tuple(replace(k, brand_token=overrides.get(k.key, k.brand_token)) for k in kinds)


AUTH_ERROR_CODES: frozenset[int] = frozenset({3})  # [assumed] "Invalid API key" answers ResultCode 3
DEFAULT_EVENT_COUNT = 500  # [assumed] the feed's default EventCount
