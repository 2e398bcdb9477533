"""Generate the brand's history: about two years of activity up to the end of ``today``, plus booked future work.

Each kind is drafted with integer times, sorted by creation time and only then given ids, so ids grow with creation.
Parents get ids before their children are drafted: contacts, proposals, appointments, invoices (+ lines), payments.
Contacts are finalized last because their category, customer-since date and lifetime value depend on the rest.
"""

from __future__ import annotations

from operator import itemgetter

from pipelines.sandbox import names as N
from pipelines.sandbox.world import (
    DAY,
    Plan,
    Series,
    World,
    appointment_row,
    contact_row,
    invoice_amounts,
    invoice_row,
    line_row,
    make_orgs,
    make_plan,
    payment_reference,
    payment_row,
    person,
    proposal_row,
    round_div,
    to_date,
    to_dt,
)

HISTORY_DAYS = 730
HORIZON_DAYS = 60  # recurring instances are materialized this far ahead
BOOKING_DRAWS = 50  # tries at a one-off job booked by today; a contact of today's last minutes may need them all
LEAD, PROSPECT, ONE_OFF, RECURRING = range(4)

_FIRST = itemgetter(0)
STANDALONE_PLANS = tuple(
    Plan(-1, ((name, desc, 10_000, amount, amount, False),), amount, 0) for name, amount, desc in N.STANDALONE_ITEMS
)
_ONE_OFF_SERVICES = tuple(i for i, s in enumerate(N.SERVICES) if not s.big_job)
_ONE_OFF_CUM = []
_acc = 0
for _i in _ONE_OFF_SERVICES:
    _acc += N.SERVICES[_i].weight
    _ONE_OFF_CUM.append(_acc)


def pick_service(w: World) -> int:
    x = w.rnd.random() * _ONE_OFF_CUM[-1]
    for i, c in enumerate(_ONE_OFF_CUM):
        if x < c:
            return _ONE_OFF_SERVICES[i]
    return _ONE_OFF_SERVICES[-1]


def work_day(day: int) -> int:
    """Move a Sunday to Monday (day 0, 2000-01-01, was a Saturday)."""
    return day + 1 if (day + 5) % 7 == 6 else day


def slot(w: World) -> int:
    return 28_800 + int(w.rnd.random() * 19) * 1800  # 8:00 .. 17:00 on the half hour


def organization_count(appointments: int) -> int:
    return max(3, min(80, round(appointments**0.5 / 20)))


def generate(w: World, appointments: int) -> None:
    r = w.rnd
    rnd = r.random
    T = w.today
    t_end = (T + 1) * DAY - 1  # the state is "end of business on today"
    first_day = T - HISTORY_DAYS
    make_orgs(w, organization_count(appointments))
    n_contacts = max(12, appointments // 4)
    orgs = w.orgs

    # --- contacts (drafts): creation time, organization, profile
    drafts = []
    for _ in range(n_contacts):
        day = first_day + int(HISTORY_DAYS * rnd() ** 0.8)  # a growing brand: more contacts lately
        drafts.append((day * DAY + 25_200 + int(rnd() * 50_400), w.pick_org()))
    drafts.sort(key=_FIRST)
    contacts: list[tuple[int, int, int, int]] = []  # (id, org index, created ts, profile)
    for cts, o in drafts:
        x = rnd()
        profile = LEAD if x < 0.18 else PROSPECT if x < 0.26 else RECURRING if x < 0.45 else ONE_OFF
        contacts.append((w.next_id("contacts"), o, cts, profile))
    del drafts
    proposed: set[int] = set()  # contacts with a proposal

    # --- proposals
    pdrafts = []
    for cid, o, cts, profile in contacts:
        if profile == PROSPECT:
            k = 2 if rnd() < 0.3 else 1
        elif profile == ONE_OFF:
            k = 1 if rnd() < 0.25 else 0
        elif profile == RECURRING:
            k = 1 if rnd() < 0.1 else 0
        else:
            k = 0
        for _ in range(k):
            pts = cts + int(rnd() * min(45 * DAY, t_end - cts))
            service = N.BIG_JOB_SERVICES[int(rnd() * len(N.BIG_JOB_SERVICES))] if rnd() < 0.6 else pick_service(w)
            pdrafts.append((pts, cid, o, make_plan(r, service), profile))
            proposed.add(cid)
    pdrafts.sort(key=_FIRST)

    adrafts: list[list] = []  # [created, contact, org, service, start, rid, plan, proposal, agent]
    oneoffs: list[int] = []  # indexes into adrafts that may be trimmed
    idrafts: list[tuple] = []  # (created, contact, org, appointment, proposal, plan)
    prows: list[tuple] = []
    for pts, cid, o, plan, profile in pdrafts:
        pid = w.next_id("proposals")
        org = orgs[o]
        pday = pts // DAY
        expires = pday + 30
        x = rnd()
        accept = 0.0 if profile == PROSPECT else 0.55
        outcome = "Accepted" if x < accept else "Declined" if x < accept + 0.25 else None
        decided = pts + DAY * (1 + int(rnd() * 40)) + int(rnd() * 20_000)
        accepted = None
        if outcome and decided <= t_end and decided // DAY <= expires:
            status, updated = outcome, decided
            if outcome == "Accepted":
                accepted = decided
                if rnd() < 0.7:
                    start = work_day(decided // DAY + 3 + int(rnd() * 18)) * DAY + slot(w)
                    created = min(decided + 600 + int(rnd() * 3600), t_end)
                    agent = org.agents[int(rnd() * len(org.agents))]
                    adrafts.append([created, cid, o, plan.service, start, None, plan, pid, agent])
                else:
                    idrafts.append((min(decided + 3600 + int(rnd() * 2 * DAY), t_end), cid, o, None, pid, plan))
        elif expires < T:
            status, updated = "Expired", (expires + 1) * DAY + 10_800 + int(rnd() * 600)
        else:
            status, updated = "Open", pts
            w.plan_day(w.decide_day, min(decided // DAY, expires + 1) if outcome else expires + 1, pid)
            w.proposal_plans[pid] = plan
        prows.append(
            proposal_row(
                pid,
                org,
                cid,
                status,
                to_date(pday),
                None if accepted is None else to_dt(accepted),
                to_date(expires),
                plan.subtotal,
                to_dt(pts),
                to_dt(updated),
            )
        )
    del pdrafts
    w.tables["proposals"].extend(prows)
    del prows

    # --- appointments: recurring series, one-off jobs
    def add_oneoff(cid: int, o: int, cts: int) -> None:
        cday = cts // DAY
        for _ in range(BOOKING_DRAWS):
            day = work_day(cday + 1 + int(rnd() * (T + 30 - cday)))
            start = day * DAY + slot(w)
            created = max(cts + 60, start - 3600 - int(rnd() * 21 * DAY))
            # a job whose booking would fall after today is not booked yet: draw another, so that the future holds
            # only the bookings the brand's lead times allow, not a month of them all booked on the last day
            if created <= t_end:
                break
        else:  # a contact from the last minutes of today: book it today
            created = max(cts + 60, t_end - int(rnd() * 36_000))
        service = pick_service(w)
        agents = orgs[o].agents
        oneoffs.append(len(adrafts))
        adrafts.append(
            [created, cid, o, service, start, None, make_plan(r, service), None, agents[int(rnd() * len(agents))]]
        )

    for cid, o, cts, profile in contacts:
        if profile == RECURRING:
            service = N.RECURRING_SERVICES[int(rnd() * len(N.RECURRING_SERVICES))]
            spec = N.SERVICES[service]
            interval = spec.intervals[int(rnd() * len(spec.intervals))]
            day = work_day(cts // DAY + 2 + int(rnd() * 28))
            at = slot(w)
            churned = rnd() < 0.4 and day < T
            end = day + int(rnd() * (T - day)) if churned else T + HORIZON_DAYS
            rid = w.next_id("recurrences")
            plan = make_plan(r, service)
            agents = orgs[o].agents
            agent = agents[int(rnd() * len(agents))]
            series_created = cts + int(rnd() * (min(day * DAY, t_end) - cts))
            while day <= end:
                created = max(series_created, (day - HORIZON_DAYS) * DAY + 7200 + int(rnd() * 600))
                adrafts.append([created, cid, o, service, day * DAY + at, rid, plan, None, agent])
                day += interval
            if not churned:
                w.series[rid] = Series(rid, cid, o, service, interval, at, day, plan, agent)
            if rnd() < 0.3:
                add_oneoff(cid, o, cts)
        elif profile == ONE_OFF:
            k = 1
            while rnd() < 0.55 and k < 12:
                k += 1
            for _ in range(k):
                add_oneoff(cid, o, cts)

    # hit the requested number of appointments exactly: trim or add one-off jobs
    excess = len(adrafts) - appointments
    if excess > 0 and oneoffs:
        drop = set(r.sample(oneoffs, min(excess, len(oneoffs))))
        adrafts = [a for i, a in enumerate(adrafts) if i not in drop]
    elif excess < 0:
        customers = [c for c in contacts if c[3] in (ONE_OFF, RECURRING)] or contacts
        for _ in range(-excess):
            cid, o, cts, _profile = customers[int(rnd() * len(customers))]
            add_oneoff(cid, o, cts)
    oneoffs.clear()
    adrafts.sort(key=_FIRST)

    arows: list[tuple] = []
    completions = []  # (completed ts, appointment id, contact, org, plan, proposal)
    first_done: dict[int, int] = {}
    last_done: dict[int, int] = {}
    upcoming: set[int] = set()
    seen: set[int] = set()
    recent, recent_oneoff = 0, 0  # appointments of the last 30 days: the daily simulation keeps this pace
    for created, cid, o, service, start, rid, plan, pid, agent in adrafts:
        aid = w.next_id("appointments")
        seen.add(cid)
        duration = N.SERVICES[service].duration
        end = start + duration * 60
        if T - 30 < start // DAY <= T:
            recent += 1
            recent_oneoff += rid is None
        completed = canceled = reason = None
        updated = created
        if end <= t_end:
            x = rnd()
            if x < 0.895:
                status = "Completed"
                completed = min(max(end + int((rnd() - 0.3) * 1800), start + 600), t_end)
                updated = completed if rnd() < 0.9 else min(completed + int(rnd() * 2 * DAY), t_end)
                completions.append((completed, aid, cid, o, plan, pid))
                if completed < first_done.get(cid, completed + 1):
                    first_done[cid] = completed
                if completed > last_done.get(cid, 0):
                    last_done[cid] = completed
            elif x < 0.965:
                status = "Canceled"
                canceled = updated = created + int(rnd() * (start - created))
                reason = N.CANCEL_REASONS[int(rnd() * len(N.CANCEL_REASONS))]
            else:
                status = "Scheduled" if agent else "Unassigned"  # never closed out
        else:
            if rnd() < 0.03:
                status = "Canceled"
                canceled = updated = created + int(rnd() * (t_end - created))
                reason = N.CANCEL_REASONS[int(rnd() * len(N.CANCEL_REASONS))]
            else:
                far = start // DAY - T > 10
                if agent is None or (far and rnd() < 0.25) or rnd() < 0.03:
                    status, agent = "Unassigned", None
                else:
                    status = "Scheduled"
                if rnd() < 0.25:
                    updated = created + int(rnd() * (t_end - created))
                w.plan_day(w.sched_day, start // DAY, aid)
                w.appt_plans[aid] = plan
                if pid is not None:
                    w.appt_proposal[aid] = pid
                if rid is not None and rid in w.series:
                    w.series[rid].future.append(aid)
                upcoming.add(cid)
        arows.append(
            appointment_row(
                aid,
                orgs[o],
                cid,
                service,
                agent,
                status,
                to_dt(start),
                duration,
                None if completed is None else to_dt(completed),
                None if canceled is None else to_dt(canceled),
                reason,
                rid,
                plan.subtotal,
                to_dt(created),
                to_dt(updated),
            )
        )
    adrafts.clear()
    w.daily_appointments = max(0.5, recent / 30)
    w.daily_bookings = recent_oneoff / 30
    w.tables["appointments"].extend(arows)
    del arows

    # --- invoices for completed work (a few no-charge visits), accepted proposals, and stand-alone sales
    for completed, aid, cid, o, plan, pid in completions:
        if rnd() < 0.03:
            continue
        idrafts.append((min(completed + 300 + int(rnd() * 5400), t_end), cid, o, aid, pid, plan))
    for _ in range(len(completions) // 50):
        completed, _aid, cid, o, _plan, _pid = completions[int(rnd() * len(completions))]
        ts = completed + DAY * (1 + int(rnd() * 60))
        if ts <= t_end:
            idrafts.append((ts, cid, o, None, None, STANDALONE_PLANS[int(rnd() * len(STANDALONE_PLANS))]))
    del completions
    idrafts.sort(key=_FIRST)

    irows: list[tuple] = []
    lrows: list[tuple] = []
    pay_drafts = []  # (ts, invoice id, contact, org, amount)
    for ts, cid, o, aid, pid, plan in idrafts:
        iid = w.next_id("invoices")
        org = orgs[o]
        discount = 0
        if rnd() < 0.12:
            discount = round_div(plan.subtotal * 10, 100) if rnd() < 0.5 else min(2500, plan.subtotal // 2)
        tax, total = invoice_amounts(plan.subtotal, plan.taxable, discount, org.tax_bp)
        paid = 0
        date_paid = None
        updated = ts
        x = rnd()
        if x < 0.02:
            status = "Void"
            updated = min(ts + DAY * (1 + int(rnd() * 5)), t_end)
        else:
            y = rnd()
            if y < 0.45:
                lag = 60 + int(rnd() * 7200)
            elif y < 0.80:
                lag = DAY * (1 + int(rnd() * 30))
            elif y < 0.94:
                lag = DAY * (31 + int(rnd() * 60))
            else:
                lag = None  # never pays: stays open
            if lag is not None:
                amount = total + (500 + int(rnd() * 1500) if rnd() < 0.005 else 0)  # the odd overpayment
                parts = [(ts + lag, amount)]
                if total >= 200 and rnd() < 0.08:
                    parts = [(ts + 60 + int(rnd() * 600), amount // 2), (ts + lag + DAY, amount - amount // 2)]
                for pts, part in parts:
                    if pts <= t_end:
                        pay_drafts.append((pts, iid, cid, o, part))
                        paid += part
                        updated = pts
                    else:
                        w.plan_day(w.pay_day, pts // DAY, iid)
                        break
            status = "Paid" if paid >= total else "Open"
            if status == "Paid":
                date_paid = to_date(updated // DAY)
        created = to_dt(ts)
        irows.append(
            invoice_row(
                iid,
                org,
                cid,
                aid,
                pid,
                org.invoice_number(),
                to_date(ts // DAY),
                status,
                plan.subtotal,
                discount,
                tax,
                total,
                paid,
                date_paid,
                created,
                to_dt(updated),
            )
        )
        for line in plan.typed_lines():
            lrows.append(line_row(w.next_id("invoice_lines"), iid, org, line, created))
    del idrafts
    w.tables["invoices"].extend(irows)
    w.tables["invoice_lines"].extend(lrows)
    del irows, lrows

    # --- payments
    pay_drafts.sort(key=_FIRST)
    payrows: list[tuple] = []
    ltv: dict[int, int] = {}
    last_paid: dict[int, int] = {}
    for ts, iid, cid, o, amount in pay_drafts:
        method = N.PAYMENT_METHODS[int(rnd() * len(N.PAYMENT_METHODS))]
        payrows.append(
            payment_row(
                w.next_id("payments"),
                orgs[o],
                iid,
                cid,
                to_date(ts // DAY),
                method,
                amount,
                payment_reference(r, method),
                to_dt(ts),
            )
        )
        ltv[cid] = ltv.get(cid, 0) + amount
        last_paid[cid] = ts
    del pay_drafts
    w.tables["payments"].extend(payrows)
    del payrows

    # --- contacts, now that their activity is known
    crows: list[tuple] = []
    inactive_before = (T - 365) * DAY
    for cid, o, cts, _profile in contacts:
        org = orgs[o]
        first = first_done.get(cid)
        if first is not None:
            since = to_date(first // DAY)
            category = "Inactive" if last_done[cid] < inactive_before and cid not in upcoming else "Customer"
        else:
            since = None
            category = "Prospect" if cid in seen or cid in proposed else "Lead"
        updated = max(cts, first or 0, last_paid.get(cid, 0))
        if rnd() < 0.15:
            updated = max(updated, cts + int(rnd() * (t_end - cts)))
        crows.append(
            contact_row(cid, org, person(r, org), category, since, ltv.get(cid, 0), to_dt(cts), to_dt(updated))
        )
    w.tables["contacts"].extend(crows)
    w.daily_contacts = max(0.2, sum(1 for c in contacts if c[2] // DAY > T - 30) / 30)
