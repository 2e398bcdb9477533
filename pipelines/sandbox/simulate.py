"""Simulate one business day of the brand: the work of ``Brand.advance_day``.

The day is a list of timed actions (a heap), planned up front and run in time order, so that ids still grow with
creation time and feed events come out in order. Actions re-check their record when they run, because an earlier
action of the same day may have deleted or changed it.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from datetime import datetime
from typing import Any

from pipelines.sandbox import events as E
from pipelines.sandbox import names as N
from pipelines.sandbox.history import HORIZON_DAYS, pick_service, slot, work_day
from pipelines.sandbox.store import Row, Table
from pipelines.sandbox.world import (
    DAY,
    Deletion,
    Plan,
    World,
    appointment_row,
    cents,
    contact_row,
    day_of,
    ensure_days,
    invoice_amounts,
    invoice_row,
    line_row,
    make_plan,
    money,
    payment_reference,
    payment_row,
    person,
    proposal_row,
    round_div,
    secs_of,
    to_date,
    to_dt,
)

OPEN_APPOINTMENT = ("Scheduled", "Unassigned")
_TRIES = 300  # random probes when looking for a record that fits an action
_FEED_LOSS = 0.13  # share of hard deletes whose Entity Deleted event never reaches the feed


class Day:
    """One simulated day; ``run()`` returns the day's feed event payloads and deletions, both in time order."""

    def __init__(self, w: World) -> None:
        self.w = w
        self.r = w.rnd
        self.day = w.today
        self.day0 = self.day * DAY
        ensure_days(self.day + 400)
        self.now = self.day0
        self.heap: list[tuple[int, int, Callable[..., None], tuple[Any, ...]]] = []
        self.seq = 0
        self.events: list[dict[str, Any]] = []
        self.deletions: list[Deletion] = []
        t = w.tables
        self.contacts, self.appointments, self.invoices = t["contacts"], t["appointments"], t["invoices"]
        self.lines, self.proposals, self.payments = t["invoice_lines"], t["proposals"], t["payments"]

    # --- scheduling helpers
    def at(self, ts: int, fn: Callable[..., None], *args: Any) -> None:
        ts = min(max(ts, self.day0), self.day0 + DAY - 1)
        heapq.heappush(self.heap, (ts, self.seq, fn, args))
        self.seq += 1

    def business_hours(self) -> int:
        return self.day0 + 25_200 + int(self.r.random() * 50_400)  # 7:00 .. 21:00

    def repeat(self, n: int, fn: Callable[[], None], *, system: bool = False) -> None:
        for _ in range(n):
            self.at(self.day0 + 7200 + int(self.r.random() * 3600) if system else self.business_hours(), fn)

    @property
    def stamp(self) -> datetime:
        """The running action's time."""
        return to_dt(self.now)

    def run(self) -> tuple[list[dict[str, Any]], list[Deletion]]:
        w, r = self.w, self.r
        d = w.daily_appointments
        with_future = [rid for rid, s in w.series.items() if s.future]
        for rid in r.sample(with_future, min(len(with_future), max(1, w.count(len(w.series) * 0.02)))):
            self.at(self.day0 + 7200 + int(r.random() * 1800), self.recreate_series, rid)
        self.at(self.day0 + 9000, self.extend_series)
        for aid in w.sched_day.pop(self.day, []):
            self.plan_outcome(aid)
        for iid in w.pay_day.pop(self.day, []):
            self.at(self.business_hours(), self.pay, iid)
        for pid in w.decide_day.pop(self.day, []):
            self.at(self.business_hours(), self.decide, pid)
        self.repeat(w.count(w.daily_contacts), self.new_contact)
        self.repeat(w.count(max(0.0, w.daily_bookings - 0.4 * w.daily_contacts)), self.book_existing)
        self.repeat(w.count(d * 0.06 + 0.4), self.new_proposal)
        self.repeat(w.count(w.daily_contacts * 0.5 + 0.3), self.edit_contact)
        self.repeat(w.count(d * 0.05 + 0.3), self.reschedule)
        self.repeat(w.count(d * 0.1 + 0.3), self.assign)
        self.repeat(w.count(d * 0.01 + 0.2), self.void_invoice)
        # hard deletes: at least one of every kind each day, so that every Entity Deleted type shows up quickly
        self.repeat(max(1, w.count(w.daily_contacts * 0.02)), self.delete_lead)
        self.repeat(max(1, w.count(d * 0.01)), self.delete_canceled_appointment)
        self.repeat(max(1, w.count(d * 0.004)), self.delete_invoice)
        self.repeat(max(1, w.count(d * 0.01)), self.delete_line)
        self.repeat(max(1, w.count(d * 0.004)), self.delete_proposal)
        self.repeat(max(1, w.count(d * 0.004)), self.delete_payment)
        if r.random() < 0.15:
            self.repeat(1, self.delete_customer)  # leaves orphans behind, as a real hard delete would
        while self.heap:
            self.now, _, fn, args = heapq.heappop(self.heap)
            fn(*args)
        return self.events, self.deletions

    # --- record helpers
    def random_row(self, table: Table, test: Callable[[Row], bool]) -> Row | None:
        rows = table.rows
        if not rows:
            return None
        rnd = self.r.random
        for _ in range(_TRIES):
            row = rows[int(rnd() * len(rows))]
            if row is not None and test(row):
                return row
        return None

    def delete(self, kind_key: str, row: Row, organization_id: int) -> None:
        table = self.w.tables[kind_key]
        table.delete(row[0])
        feed = self.r.random() >= _FEED_LOSS
        deletion = Deletion(kind_key, row[0], organization_id, self.stamp, feed)
        self.deletions.append(deletion)
        if feed:
            self.events.append(E.entity_deleted(self.r, table.kind.entity_type, row[0], organization_id, self.stamp))

    def touch_contact(self, cid: int, **changes: Any) -> Row | None:
        if self.contacts.get(cid) is None:
            return None
        return self.contacts.update(cid, updated_at=self.stamp, **changes)

    def new_appointment(
        self, cid: int, o: int, plan: Plan, start: int, *, rid: int | None, pid: int | None, agent: str | None
    ) -> int:
        w = self.w
        aid = w.next_id("appointments")
        status = "Scheduled" if agent else "Unassigned"
        service = plan.service if plan.service >= 0 else pick_service(w)
        duration = N.SERVICES[service].duration
        row = appointment_row(
            aid, w.orgs[o], cid, service, agent, status, to_dt(start), duration, None, None, None, rid,
            plan.subtotal, self.stamp, self.stamp,
        )  # fmt: skip
        self.appointments.append(row)
        w.plan_day(w.sched_day, start // DAY, aid)
        w.appt_plans[aid] = plan
        if pid is not None:
            w.appt_proposal[aid] = pid
        return aid

    def open_appointment(self, aid: int) -> Row | None:
        row = self.appointments.get(aid)
        if row is None or row[6] not in OPEN_APPOINTMENT:
            return None
        return row

    # --- recurring series
    def recreate_series(self, rid: int) -> None:
        """serviceminder rebuilds a series' future instances: the old ids are hard-deleted, new ids appear."""
        w = self.w
        s = w.series.get(rid)
        if s is None or self.contacts.get(s.contact_id) is None:
            return
        days = []
        for aid in s.future:
            row = self.open_appointment(aid)
            if row is not None and day_of(row[7]) > self.day:
                days.append(row[7])
                self.delete("appointments", row, row[1])
                w.appt_plans.pop(aid, None)
        s.future = []
        if self.r.random() < 0.4:
            s.slot = slot(w)
        for start in days:
            start_s = day_of(start) * DAY + s.slot
            s.future.append(
                self.new_appointment(s.contact_id, s.org, s.plan, start_s, rid=rid, pid=None, agent=s.agent)
            )

    def extend_series(self) -> None:
        w = self.w
        horizon = self.day + HORIZON_DAYS
        for rid in list(w.series):
            s = w.series[rid]
            if self.contacts.get(s.contact_id) is None:
                del w.series[rid]  # the customer was deleted; serviceminder stops the series
                continue
            while s.next_day <= horizon:
                start = s.next_day * DAY + s.slot
                s.future.append(
                    self.new_appointment(s.contact_id, s.org, s.plan, start, rid=rid, pid=None, agent=s.agent)
                )
                s.next_day += s.interval

    # --- appointments of the day
    def plan_outcome(self, aid: int) -> None:
        row = self.open_appointment(aid)
        if row is None or day_of(row[7]) != self.day:
            return  # deleted, closed or rescheduled since it was indexed
        start = secs_of(row[7])
        x = self.r.random()
        if x < 0.9:
            self.at(start + row[8] * 60 + int((self.r.random() - 0.3) * 1800), self.complete, aid)
        elif x < 0.97:
            self.at(start - 600 - int(self.r.random() * 5 * 3600), self.cancel, aid)
        # else: nobody closes it out; it stays open in the past, as real data does

    def complete(self, aid: int) -> None:
        w = self.w
        row = self.open_appointment(aid)
        if row is None:
            return
        contact = self.contacts.get(row[3])
        if contact is None:
            return  # orphaned by a deleted contact: nobody works it
        org = w.orgs[w.org_pos[row[1]]]
        agent = row[5] or org.agents[int(self.r.random() * len(org.agents))]
        row = self.appointments.update(
            aid, status="Completed", service_agent=agent, completed_at=self.stamp, updated_at=self.stamp
        )
        if contact[17] is None:
            contact = self.contacts.update(
                row[3], customer_since=to_date(self.day), category="Customer", updated_at=self.stamp
            )
        elif contact[13] != "Customer":
            contact = self.contacts.update(row[3], category="Customer", updated_at=self.stamp)
        self.events.append(E.appointment_complete(self.r, self.contacts, contact, self.appointments.as_dict(row)))
        if row[13] is not None and row[13] in w.series:
            future = w.series[row[13]].future
            if aid in future:
                future.remove(aid)
        plan = w.appt_plans.pop(aid, None)
        pid = w.appt_proposal.pop(aid, None)
        if plan is not None and self.r.random() >= 0.03:  # a few visits are no-charge
            self.at(self.now + 300 + int(self.r.random() * 3600), self.issue_invoice, row[3], row[1], aid, pid, plan)

    def cancel(self, aid: int) -> None:
        row = self.open_appointment(aid)
        if row is None:
            return
        reason = N.CANCEL_REASONS[int(self.r.random() * len(N.CANCEL_REASONS))]
        self.appointments.update(
            aid, status="Canceled", canceled_at=self.stamp, cancel_reason=reason, updated_at=self.stamp
        )
        self.w.appt_plans.pop(aid, None)
        self.w.appt_proposal.pop(aid, None)

    # --- invoices and payments
    def issue_invoice(self, cid: int, org_id: int, aid: int | None, pid: int | None, plan: Plan) -> None:
        w, r = self.w, self.r
        contact = self.contacts.get(cid)
        if contact is None:
            return
        org = w.orgs[w.org_pos[org_id]]
        discount = 0
        if r.random() < 0.12:
            discount = round_div(plan.subtotal * 10, 100) if r.random() < 0.5 else min(2500, plan.subtotal // 2)
        tax, total = invoice_amounts(plan.subtotal, plan.taxable, discount, org.tax_bp)
        iid = w.next_id("invoices")
        row = invoice_row(
            iid, org, cid, aid, pid, org.invoice_number(), to_date(self.day), "Open", plan.subtotal, discount, tax,
            total, 0, None, self.stamp, self.stamp,
        )  # fmt: skip
        self.invoices.append(row)
        for line in plan.typed_lines():
            self.lines.append(line_row(w.next_id("invoice_lines"), iid, org, line, self.stamp))
        self.events.append(E.invoice_generated(r, self.contacts, contact, self.invoices.as_dict(row)))
        y = r.random()
        if y < 0.45:
            self.at(self.now + 60 + int(r.random() * 3600), self.pay, iid)
        elif y < 0.94:
            lag = 1 + int(r.random() * 30) if y < 0.8 else 31 + int(r.random() * 60)
            w.plan_day(w.pay_day, self.day + lag, iid)

    def pay(self, iid: int) -> None:
        w, r = self.w, self.r
        row = self.invoices.get(iid)
        if row is None or row[8] != "Open":
            return
        amount = cents(row[14])
        if amount <= 0:
            return
        method = N.PAYMENT_METHODS[int(r.random() * len(N.PAYMENT_METHODS))]
        org = w.orgs[w.org_pos[row[1]]]
        self.payments.append(
            payment_row(
                w.next_id("payments"), org, iid, row[3], to_date(self.day), method, amount,
                payment_reference(r, method), self.stamp,
            )
        )  # fmt: skip
        paid = cents(row[13]) + amount
        self.invoices.update(
            iid, status="Paid", amount_paid=money(paid), balance_due=money(cents(row[12]) - paid),
            date_paid=to_date(self.day), updated_at=self.stamp,
        )  # fmt: skip
        contact = self.contacts.get(row[3])
        if contact is not None:
            self.touch_contact(row[3], lifetime_value=money(cents(contact[18]) + amount))

    def void_invoice(self) -> None:
        row = self.random_row(self.invoices, lambda i: i[8] == "Open" and not i[13])
        if row is not None:
            self.invoices.update(row[0], status="Void", updated_at=self.stamp)

    # --- proposals
    def new_proposal(self) -> None:
        w, r = self.w, self.r
        contact = self.random_row(self.contacts, lambda c: c[13] != "Inactive")
        if contact is None:
            return
        o = w.org_pos[contact[1]]
        service = N.BIG_JOB_SERVICES[int(r.random() * len(N.BIG_JOB_SERVICES))] if r.random() < 0.6 else pick_service(w)
        plan = make_plan(r, service)
        pid = w.next_id("proposals")
        expires = self.day + 30
        row = proposal_row(
            pid, w.orgs[o], contact[0], "Open", to_date(self.day), None, to_date(expires), plan.subtotal,
            self.stamp, self.stamp,
        )  # fmt: skip
        self.proposals.append(row)
        w.proposal_plans[pid] = plan
        w.plan_day(w.decide_day, min(self.day + 1 + int(r.random() * 40), expires + 1), pid)
        if contact[13] == "Lead":
            contact = self.touch_contact(contact[0], category="Prospect")
        self.events.append(E.proposal_event(r, self.contacts, contact, self.proposals.as_dict(row)))

    def decide(self, pid: int) -> None:
        w, r = self.w, self.r
        row = self.proposals.get(pid)
        if row is None or row[3] != "Open":
            return
        expires = day_of(row[6])
        x = r.random()
        if self.day > expires:
            status = "Expired"
        elif x < 0.5:
            status = "Accepted"
        elif x < 0.75:
            status = "Declined"
        else:
            w.plan_day(w.decide_day, min(self.day + 1 + int(r.random() * 10), expires + 1), pid)
            return
        changes: dict[str, Any] = {"status": status, "updated_at": self.stamp}
        if status == "Accepted":
            changes["accepted_at"] = self.stamp
        row = self.proposals.update(pid, **changes)
        plan = w.proposal_plans.pop(pid, None)
        contact = self.contacts.get(row[2])
        if contact is None:
            return
        self.events.append(E.proposal_event(r, self.contacts, contact, self.proposals.as_dict(row)))
        if status == "Accepted" and plan is not None:
            o = w.org_pos[row[1]]
            if r.random() < 0.7:
                start = work_day(self.day + 3 + int(r.random() * 18)) * DAY + slot(w)
                agents = w.orgs[o].agents
                agent = agents[int(r.random() * len(agents))]
                self.at(self.now + 600, self.book_job, row[2], o, plan, start, pid, agent)
            else:
                self.at(self.now + 3600, self.issue_invoice, row[2], row[1], None, pid, plan)

    def book_job(self, cid: int, o: int, plan: Plan, start: int, pid: int, agent: str) -> None:
        if self.contacts.get(cid) is not None:
            self.new_appointment(cid, o, plan, start, rid=None, pid=pid, agent=agent)

    # --- contacts and bookings
    def new_contact(self) -> None:
        w, r = self.w, self.r
        o = w.pick_org()
        org = w.orgs[o]
        cid = w.next_id("contacts")
        self.contacts.append(contact_row(cid, org, person(r, org), "Lead", None, 0, self.stamp, self.stamp))
        if r.random() < 0.4:
            self.at(self.now + 120 + int(r.random() * 1200), self.book, cid)

    def book(self, cid: int) -> None:
        w, r = self.w, self.r
        contact = self.contacts.get(cid)
        if contact is None:
            return
        o = w.org_pos[contact[1]]
        start = work_day(self.day + 1 + int(r.random() * 30)) * DAY + slot(w)
        agents = w.orgs[o].agents
        agent = agents[int(r.random() * len(agents))] if r.random() < 0.8 else None
        self.new_appointment(cid, o, make_plan(r, pick_service(w)), start, rid=None, pid=None, agent=agent)
        if contact[13] == "Lead":
            self.touch_contact(cid, category="Prospect")

    def book_existing(self) -> None:
        contact = self.random_row(self.contacts, lambda c: c[13] != "Lead" or self.r.random() < 0.2)
        if contact is not None:
            self.book(contact[0])

    def edit_contact(self) -> None:
        w, r = self.w, self.r
        contact = self.random_row(self.contacts, lambda c: True)
        if contact is None:
            return
        org = w.orgs[w.org_pos[contact[1]]]
        fresh = person(r, org)  # borrow new values from a made-up person
        field = ("primary_phone", "email", "tags", "address2", "do_not_email", "do_not_text")[int(r.random() * 6)]
        source = {"primary_phone": 3, "email": 2, "tags": 15, "address2": 6, "do_not_email": 13, "do_not_text": 14}
        value = fresh[source[field]]
        if field.startswith("do_not"):
            value = not contact[self.contacts.index[field]]
        self.touch_contact(contact[0], **{field: value})

    def pick_future(self, test: Callable[[Row], bool]) -> Row | None:
        w, r = self.w, self.r
        days = [d for d in range(self.day + 2, self.day + 31) if w.sched_day.get(d)]
        for _ in range(50):
            if not days:
                return None
            day = days[int(r.random() * len(days))]
            ids = w.sched_day[day]
            row = self.open_appointment(ids[int(r.random() * len(ids))])
            if row is not None and day_of(row[7]) == day and test(row):
                return row
        return None

    def reschedule(self) -> None:
        w, r = self.w, self.r
        row = self.pick_future(lambda a: True)
        if row is None:
            return
        new_day = work_day(day_of(row[7]) + 1 + int(r.random() * 7))
        start = new_day * DAY + slot(w)
        self.appointments.update(row[0], scheduled_start=to_dt(start), updated_at=self.stamp)
        w.plan_day(w.sched_day, new_day, row[0])

    def assign(self) -> None:
        w, r = self.w, self.r
        row = self.pick_future(lambda a: a[6] == "Unassigned")
        if row is None:
            return
        agents = w.orgs[w.org_pos[row[1]]].agents
        agent = agents[int(r.random() * len(agents))]
        self.appointments.update(row[0], status="Scheduled", service_agent=agent, updated_at=self.stamp)

    # --- hard deletes (mostly leaf records)
    def delete_lead(self) -> None:
        contact = self.random_row(self.contacts, lambda c: c[13] == "Lead")
        if contact is not None:
            self.delete("contacts", contact, contact[1])

    def delete_customer(self) -> None:
        contact = self.random_row(self.contacts, lambda c: c[13] == "Customer")
        if contact is not None:
            self.delete("contacts", contact, contact[1])

    def delete_canceled_appointment(self) -> None:
        row = self.random_row(self.appointments, lambda a: a[6] == "Canceled")
        if row is not None:
            self.delete("appointments", row, row[1])

    def delete_invoice(self) -> None:
        row = self.random_row(self.invoices, lambda i: i[8] == "Void") or self.random_row(
            self.invoices, lambda i: i[8] == "Open" and not i[13]
        )
        if row is None:
            return
        for line in self.lines_of(row[0]):
            self.delete("invoice_lines", line, row[1])
        self.delete("invoices", row, row[1])

    def delete_line(self) -> None:
        def fits(line: Row) -> bool:
            inv = self.invoices.get(line[1])
            return inv is not None and inv[8] == "Open" and not inv[13] and len(self.lines_of(line[1])) >= 2

        line = self.random_row(self.lines, fits)
        if line is None:
            return
        self.delete("invoice_lines", line, line[2])
        rest = self.lines_of(line[1])
        inv = self.invoices.get(line[1])
        subtotal = sum(cents(x[7]) for x in rest)
        taxable = sum(cents(x[7]) for x in rest if x[8])
        org = self.w.orgs[self.w.org_pos[inv[1]]]
        discount = min(cents(inv[10]), subtotal // 2)  # never the whole bill
        tax, total = invoice_amounts(subtotal, taxable, discount, org.tax_bp)
        paid = cents(inv[13])
        self.invoices.update(
            line[1], subtotal=money(subtotal), discount=money(discount), tax=money(tax), total=money(total),
            balance_due=money(total - paid), updated_at=self.stamp,
        )  # fmt: skip

    def delete_proposal(self) -> None:
        row = self.random_row(self.proposals, lambda p: p[3] != "Accepted")
        if row is not None:
            self.w.proposal_plans.pop(row[0], None)
            self.delete("proposals", row, row[1])

    def delete_payment(self) -> None:
        w, r = self.w, self.r
        row = self.random_row(self.payments, lambda p: True)
        if row is None:
            return
        self.delete("payments", row, row[1])
        amount = cents(row[6])
        inv = self.invoices.get(row[2])
        if inv is not None and inv[8] != "Void":
            paid = cents(inv[13]) - amount
            total = cents(inv[12])
            status = "Paid" if paid >= total else "Open"
            self.invoices.update(
                row[2], status=status, amount_paid=money(paid), balance_due=money(total - paid),
                date_paid=inv[15] if status == "Paid" else None, updated_at=self.stamp,
            )  # fmt: skip
            if status == "Open":
                w.plan_day(w.pay_day, self.day + 3 + int(r.random() * 12), row[2])  # collected again later
        contact = self.contacts.get(row[3])
        if contact is not None:
            self.touch_contact(row[3], lifetime_value=money(cents(contact[18]) - amount))

    def lines_of(self, iid: int) -> list[Row]:
        """Live lines of one invoice. Lines are stored in invoice order, so a binary search finds them."""
        rows = self.lines.rows
        lo, hi = 0, len(rows)
        while lo < hi:
            mid = (lo + hi) // 2
            j = mid
            while j < hi and rows[j] is None:
                j += 1
            if j == hi:
                hi = mid
            elif rows[j][1] < iid:  # type: ignore[index]
                lo = j + 1
            else:
                hi = mid
        out = []
        for j in range(lo, len(rows)):
            row = rows[j]
            if row is None:
                continue
            if row[1] != iid:
                break
            out.append(row)
        return out
