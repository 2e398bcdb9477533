"""The synthetic brand's state and the helpers that build its records.

Time is handled as integer seconds since 2000-01-01 00:00 (naive local time) while generating, and converted to
``datetime``/``date`` only when a row tuple is built. Money is integer cents until then, quantities integer
ten-thousandths. Both conversions are cached, so repeated values share one object (memory at 1M appointments).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from pipelines.sandbox import names as N
from pipelines.sandbox.store import Row, Table
from pipelines.serviceminder.kinds import ALL_KINDS

DAY = 86_400
EPOCH = datetime(2000, 1, 1)
_EPOCH_ORDINAL = EPOCH.toordinal()
_SECOND = [timedelta(seconds=s) for s in range(DAY)]
_MIDNIGHT: list[datetime] = []
_DATES: list[date] = []


def ensure_days(day: int) -> None:
    """Make ``to_dt``/``to_date`` work up to this day; they skip the check because they run millions of times."""
    while len(_MIDNIGHT) <= day:
        d = EPOCH + timedelta(days=len(_MIDNIGHT))
        _MIDNIGHT.append(d)
        _DATES.append(d.date())


def to_dt(s: int) -> datetime:
    return _MIDNIGHT[s // DAY] + _SECOND[s % DAY]


def to_date(day: int) -> date:
    return _DATES[day]


def day_of(d: date) -> int:
    return d.toordinal() - _EPOCH_ORDINAL


def secs_of(d: datetime) -> int:
    return (d.toordinal() - _EPOCH_ORDINAL) * DAY + d.hour * 3600 + d.minute * 60 + d.second


class _Decimals(dict[int, Decimal]):
    """Integer units -> Decimal with a fixed exponent, created once per value (a lookup is a C-level dict hit)."""

    def __init__(self, exponent: int) -> None:
        super().__init__()
        self.exponent = exponent

    def __missing__(self, units: int) -> Decimal:
        value = self[units] = Decimal(units).scaleb(self.exponent)
        return value


money = _Decimals(-2).__getitem__  # cents -> Decimal("12.34")
qty = _Decimals(-4).__getitem__  # ten-thousandths -> Decimal("1.5000")


def cents(m: Decimal) -> int:
    return int(m.scaleb(2))


def round_div(n: int, d: int) -> int:
    """n / d rounded half up, for non-negative n."""
    return (2 * n + d) // (2 * d)


@dataclass(frozen=True)
class Deletion:
    """One hard delete. ``feed_event`` is False for the deletes whose Entity Deleted event the feed "loses"."""

    kind_key: str  # kinds.py key: "contacts", "invoice_lines", ...
    entity_id: int
    organization_id: int
    deleted_at: datetime  # naive local time
    feed_event: bool


@dataclass
class Org:
    id: int
    name: str
    metro: N.Metro
    agents: tuple[str, ...]
    tax_bp: int  # sales tax in basis points
    invoice_format: str  # "{:06d}" keeps leading zeros in a text column
    next_invoice_no: int
    cities: tuple[str, ...] = ()

    def invoice_number(self) -> str:
        n = self.next_invoice_no
        self.next_invoice_no += 1
        return self.invoice_format.format(n)


@dataclass(slots=True)
class Plan:
    """What an appointment will be billed: invoice lines (service, description, q4, unit cents, ext cents, taxable)."""

    service: int
    lines: tuple[tuple[str, str | None, int, int, int, bool], ...]
    subtotal: int
    taxable: int
    _typed: tuple[tuple[Any, ...], ...] | None = None

    def typed_lines(self) -> tuple[tuple[Any, ...], ...]:
        """The lines as invoice-line column values (service .. taxable), built once per plan."""
        if self._typed is None:
            self._typed = tuple((s, d, qty(q4), money(u), money(e), t) for s, d, q4, u, e, t in self.lines)
        return self._typed


@dataclass(slots=True)
class Series:
    """A recurring series that is still running: the simulation keeps materializing its instances."""

    rid: int
    contact_id: int
    org: int  # index into World.orgs
    service: int
    interval: int  # days
    slot: int  # seconds after midnight of every instance
    next_day: int  # day of the next instance not materialized yet
    plan: Plan
    agent: str | None
    future: list[int] = field(default_factory=list)  # ids of materialized future instances


@dataclass
class World:
    """Everything the generator and the daily simulation share."""

    rnd: random.Random
    today: int  # day number (days since EPOCH) of the simulated business date
    tables: dict[str, Table]
    orgs: list[Org] = field(default_factory=list)
    org_pos: dict[int, int] = field(default_factory=dict)  # organization id -> index in orgs
    org_cum_weights: list[float] = field(default_factory=list)
    last_id: dict[str, int] = field(default_factory=dict)
    series: dict[int, Series] = field(default_factory=dict)  # running series by recurrence id
    sched_day: dict[int, list[int]] = field(default_factory=dict)  # day -> future appointments to resolve
    pay_day: dict[int, list[int]] = field(default_factory=dict)  # day -> open invoices to collect
    decide_day: dict[int, list[int]] = field(default_factory=dict)  # day -> open proposals to decide
    proposal_plans: dict[int, Plan] = field(default_factory=dict)  # open/accepted proposals' work
    appt_proposal: dict[int, int] = field(default_factory=dict)  # future appointment -> proposal it carries out
    appt_plans: dict[int, Plan] = field(default_factory=dict)  # future appointment -> what it will bill
    # the pace of the last 30 days of history, which the simulation keeps up
    daily_appointments: float = 1.0
    daily_bookings: float = 1.0  # one-off jobs (not from a series)
    daily_contacts: float = 1.0

    @classmethod
    def empty(cls, seed: int, today: date) -> World:
        if today.year < 2003:
            raise ValueError(f"today must be in 2003 or later (two years of history after 2000-01-01), got {today}")
        w = cls(rnd=random.Random(seed), today=day_of(today), tables={k.key: Table(k) for k in ALL_KINDS})
        ensure_days(w.today + 400)
        bases = {
            "organizations": 1_000_100_000,
            "contacts": 1_204_000_000,
            "appointments": 2_118_000_000,
            "invoices": 3_305_000_000,
            "invoice_lines": 4_410_000_000,
            "proposals": 5_520_000_000,
            "payments": 6_630_000_000,
            "recurrences": 7_740_000_000,
        }
        w.last_id = {k: v + w.rnd.randrange(1000) for k, v in bases.items()}
        return w

    def next_id(self, sequence: str) -> int:
        """Ids grow with creation, one sequence per kind, with the occasional gap (ids used elsewhere)."""
        x = self.rnd.random()
        gap = 1 + int(x * 50) if x < 0.08 else 1  # 1..4
        self.last_id[sequence] += gap
        return self.last_id[sequence]

    def pick_org(self) -> int:
        from bisect import bisect_left

        cw = self.org_cum_weights
        return min(bisect_left(cw, self.rnd.random() * cw[-1]), len(cw) - 1)

    def count(self, mean: float) -> int:
        """A whole number with the given mean: floor plus a Bernoulli remainder."""
        whole = int(mean)
        return whole + (1 if self.rnd.random() < mean - whole else 0)

    def plan_day(self, index: dict[int, list[int]], day: int, rid: int) -> None:
        index.setdefault(day, []).append(rid)


def make_orgs(w: World, n: int) -> None:
    r = w.rnd
    metros = list(N.METROS)
    r.shuffle(metros)
    # every brand gets postal codes with a leading zero and an organization name with a comma
    first = next(m for m in metros if m.zip_prefixes[0].startswith("0") and not m.with_state)
    second = next(m for m in metros if m.with_state)
    metros = [first, second, *(m for m in metros if m not in (first, second))]
    used: set[str] = set()
    for i in range(n):
        metro = metros[i % len(metros)]
        area = metro.city if i < len(metros) else f"{metro.city} {N.AREA_SUFFIXES[(i // len(metros)) % 6]}"
        name = f"{N.BRAND_NAME} of {area}" + (f", {metro.state}" if metro.with_state else "")
        while name in used:
            name += " II"
        used.add(name)
        agents = tuple(
            f"{r.choice(N.FIRST_NAMES)} {r.choice(N.LAST_NAMES)[0]}." for _ in range(3 + int(r.random() * 6))
        )
        w.orgs.append(
            Org(
                id=w.next_id("organizations"),
                name=name,
                metro=metro,
                agents=agents,
                tax_bp=r.choice((0, 475, 600, 625, 700, 725, 825, 888)),
                invoice_format=("{:06d}", "INV-{}", "{}")[i % 3],  # zero-padded numbers must stay text
                next_invoice_no=1 + int(r.random() * 5000),
                cities=(metro.city, *metro.suburbs),
            )
        )
    total = 0.0
    for _ in w.orgs:
        total += 0.3 + r.random() ** 2 * 2  # unequal sizes: some locations are much bigger
        w.org_cum_weights.append(total)
    w.org_pos = {o.id: i for i, o in enumerate(w.orgs)}


def _ascii(s: str) -> str:
    import unicodedata

    folded = unicodedata.normalize("NFKD", s).encode("ascii", "ignore").decode()
    return "".join(ch for ch in folded.lower() if ch.isalnum())


_ASCII_FIRST = {n: _ascii(n) for n in N.FIRST_NAMES}
_ASCII_LAST = {n: _ascii(n) for n in N.LAST_NAMES}


def phone(r: random.Random, metro: N.Metro) -> str:
    area = metro.area_codes[int(r.random() * len(metro.area_codes))]
    exch = 200 + int(r.random() * 800)
    line = int(r.random() * 10000)
    x = r.random()
    if x < 0.7:
        return f"({area}) {exch}-{line:04d}"
    if x < 0.85:
        return f"{area}-{exch}-{line:04d}"
    if x < 0.95:
        return f"{area}.{exch}.{line:04d}"
    return f"+1 {area} {exch} {line:04d}"


def person(r: random.Random, org: Org) -> tuple[Any, ...]:
    """Name .. postal code, lead source .. digital tracking id for a new contact (see contact_row)."""
    rnd = r.random
    first = N.FIRST_NAMES[int(rnd() * len(N.FIRST_NAMES))]
    last = N.LAST_NAMES[int(rnd() * len(N.LAST_NAMES))]
    x = rnd()
    if x < 0.05:
        name = f"{last}, {first}"
    elif x < 0.08:
        name = f"{first} {last}, {N.NAME_SUFFIXES[int(rnd() * 4)]}"
    else:
        name = f"{first} {last}"
    metro = org.metro
    city = org.cities[int(rnd() * len(org.cities))]
    company = None
    if rnd() < 0.12:
        pattern = N.COMPANY_PATTERNS[int(rnd() * len(N.COMPANY_PATTERNS))]
        company = pattern.format(last=last, last2=N.LAST_NAMES[int(rnd() * len(N.LAST_NAMES))], city=city)
    email = None
    if rnd() < 0.88:
        sep = "." if rnd() < 0.6 else ""
        num = str(int(rnd() * 100)) if rnd() < 0.4 else ""
        email = f"{_ASCII_FIRST[first]}{sep}{_ASCII_LAST[last]}{num}@{N.EMAIL_DOMAINS[int(rnd() * 7)]}"
    pri = phone(r, metro) if rnd() < 0.96 else None
    alt = phone(r, metro) if rnd() < 0.2 else None
    address1 = f"{1 + int(rnd() * 9899)} {N.STREET_NAMES[int(rnd() * 32)]} {N.STREET_SUFFIXES[int(rnd() * 11)]}"
    address2 = N.ADDRESS2[int(rnd() * len(N.ADDRESS2))] if rnd() < 0.15 else None
    prefix = metro.zip_prefixes[int(rnd() * len(metro.zip_prefixes))]
    postal = f"{prefix}{int(rnd() * 100):02d}"
    if rnd() < 0.1:
        postal += f"-{int(rnd() * 10000):04d}"
    lead_source = N.LEAD_SOURCES[int(rnd() * 8)] if rnd() < 0.85 else None
    channel = N.CHANNELS[int(rnd() * 5)] if rnd() < 0.9 else None
    campaign = N.CAMPAIGNS[int(rnd() * 5)] if rnd() < 0.25 else None
    dne = rnd() < 0.06
    dnt = rnd() < 0.09
    tags = N.TAGS[int(rnd() * len(N.TAGS))] if rnd() < 0.3 else None
    tracking = None
    if rnd() < 0.4:
        tracking = ("gclid-", "fbclid-", "msclk-", "")[int(rnd() * 4)] + f"{r.getrandbits(64):016x}"
    return (
        name,
        company,
        email,
        pri,
        alt,
        address1,
        address2,
        city,
        metro.state,
        postal,
        lead_source,
        channel,
        campaign,
        dne,
        dnt,
        tags,
        tracking,
    )


def contact_row(
    cid: int,
    org: Org,
    p: tuple[Any, ...],
    category: str,
    customer_since: date | None,
    ltv_cents: int,
    created: datetime,
    updated: datetime,
) -> Row:
    (name, company, email, pri, alt, a1, a2, city, state, postal, source, channel, campaign, dne, dnt, tags, trk) = p
    return (
        cid,
        org.id,
        org.name,
        name,
        company,
        email,
        pri,
        alt,
        a1,
        a2,
        city,
        state,
        postal,
        category,
        source,
        channel,
        campaign,
        customer_since,
        money(ltv_cents),
        dne,
        dnt,
        tags,
        trk,
        created,
        updated,
    )


def make_plan(r: random.Random, service: int) -> Plan:
    s = N.SERVICES[service]
    rnd = r.random
    base = s.min_cents + int(rnd() * (s.max_cents - s.min_cents))
    unit = base // 500 * 500 - 1 if rnd() < 0.5 else base // 100 * 100  # $244.99 or $238.00
    desc = s.descriptions[int(rnd() * len(s.descriptions))]
    lines = [(s.name, desc, 10_000, unit, unit, s.taxable)]
    for addon in s.addons:
        if rnd() < 0.22 and len(lines) < 4:
            q4 = addon.quantities[int(rnd() * len(addon.quantities))]
            ext = round_div(q4 * addon.unit_cents, 10_000)
            lines.append((addon.name, addon.description, q4, addon.unit_cents, ext, addon.taxable))
    subtotal = sum(line[4] for line in lines)
    taxable = sum(line[4] for line in lines if line[5])
    return Plan(service, tuple(lines), subtotal, taxable)


def invoice_amounts(subtotal: int, taxable: int, discount: int, tax_bp: int) -> tuple[int, int]:
    """(tax, total) in cents: tax on the taxable part net of the discount; total = subtotal - discount + tax."""
    tax = round_div(max(0, taxable - discount) * tax_bp, 10_000)
    return tax, subtotal - discount + tax


def appointment_row(
    aid: int,
    org: Org,
    contact_id: int,
    service: int,
    agent: str | None,
    status: str,
    start: datetime,
    duration: int,
    completed: datetime | None,
    canceled: datetime | None,
    reason: str | None,
    rid: int | None,
    subtotal: int,
    created: datetime,
    updated: datetime,
) -> Row:
    return (
        aid,
        org.id,
        org.name,
        contact_id,
        N.SERVICES[service].name,
        agent,
        status,
        start,
        duration,
        completed,
        canceled,
        reason,
        rid is not None,
        rid,
        money(subtotal),
        created,
        updated,
    )


def invoice_row(
    iid: int,
    org: Org,
    contact_id: int,
    appointment_id: int | None,
    proposal_id: int | None,
    number: str,
    invoice_date: date,
    status: str,
    subtotal: int,
    discount: int,
    tax: int,
    total: int,
    paid: int,
    date_paid: date | None,
    created: datetime,
    updated: datetime,
) -> Row:
    return (
        iid,
        org.id,
        org.name,
        contact_id,
        appointment_id,
        proposal_id,
        number,
        invoice_date,
        status,
        money(subtotal),
        money(discount),
        money(tax),
        money(total),
        money(paid),
        money(total - paid),
        date_paid,
        created,
        updated,
    )


def line_row(lid: int, invoice_id: int, org: Org, line: tuple, created: datetime) -> Row:
    """``line`` is one of ``Plan.typed_lines()``."""
    return (lid, invoice_id, org.id, *line, created, created)


def proposal_row(
    pid: int,
    org: Org,
    contact_id: int,
    status: str,
    proposal_date: date,
    accepted: datetime | None,
    expires: date,
    total: int,
    created: datetime,
    updated: datetime,
) -> Row:
    return (pid, org.id, contact_id, status, proposal_date, accepted, expires, money(total), created, updated)


def payment_reference(r: random.Random, method: str) -> str | None:
    if method == "Card":
        return f"{N.CARD_BRANDS[int(r.random() * 4)]} ****{int(r.random() * 10000):04d}"
    if method == "Check":
        return f"Check #{1000 + int(r.random() * 9000)}"
    if method == "ACH":
        return f"ACH-{r.getrandbits(32):08X}"
    return None


def payment_row(
    pid: int,
    org: Org,
    invoice_id: int,
    contact_id: int,
    pay_date: date,
    method: str,
    amount: int,
    reference: str | None,
    created: datetime,
) -> Row:
    return (pid, org.id, invoice_id, contact_id, pay_date, method, money(amount), reference, created, created)
