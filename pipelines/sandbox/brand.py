"""The sandbox's deterministic synthetic franchise brand: its records, its downloads' row selection, its days.

``Brand(seed, appointments, today)`` generates about two years of history for a brand of several organizations
(see ``history``), keeps every record in memory (see ``store``), answers the download filters (``select``) and
simulates one more business day at a time (``advance_day``, see ``simulate``), returning that day's feed events.
Same seed, scale and date: identical brand, identical days.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from datetime import date
from typing import Any

from pipelines.sandbox.history import generate
from pipelines.sandbox.simulate import Day
from pipelines.sandbox.store import Table
from pipelines.sandbox.world import Deletion, World, to_date
from pipelines.serviceminder.kinds import KINDS_BY_KEY

__all__ = ["Brand", "Deletion"]

FREEZE_FROM = 100_000  # appointments; from this size on, generated records are frozen out of the garbage collector


class Brand:
    """A franchise brand with organizations, contacts, appointments, invoices, lines, proposals and payments."""

    def __init__(self, seed: int, appointments: int, today: date | None = None) -> None:
        if appointments < 1:
            raise ValueError(f"appointments must be at least 1, got {appointments}")
        self._world = World.empty(seed, today or date.today())
        # millions of new objects would trigger full garbage collections over and over; none of them form cycles
        collecting = gc.isenabled()
        gc.disable()
        try:
            generate(self._world, appointments)
        finally:
            if collecting:
                gc.enable()
        if appointments >= FREEZE_FROM:
            # a big brand's millions of long-lived records would make every later full collection walk them
            # (~0.5 s at 1M appointments, in the middle of serving a page); move them out of the collector's sight
            gc.collect()
            gc.freeze()
        self.deletions: list[Deletion] = []

    def __repr__(self) -> str:
        counts = ", ".join(f"{k}={len(t)}" for k, t in self._world.tables.items())
        return f"Brand(today={self.today}, organizations={len(self._world.orgs)}, {counts})"

    @property
    def today(self) -> date:
        """The simulated business date; the data is as of the end of that day."""
        return to_date(self._world.today)

    @property
    def organizations(self) -> list[tuple[int, str]]:
        return [(o.id, o.name) for o in self._world.orgs]

    def _table(self, kind_key: str) -> Table:
        try:
            return self._world.tables[kind_key]
        except KeyError:
            raise KeyError(f"unknown kind {kind_key!r}; expected one of {', '.join(KINDS_BY_KEY)}") from None

    def live(self, kind_key: str) -> dict[int, dict[str, Any]]:
        """A fresh dict of every live record of a kind, by id, in id order (builds ~1 dict per record: heavy at 1M)."""
        table = self._table(kind_key)
        names = table.names
        return {row[0]: dict(zip(names, row, strict=False)) for row in table.live_rows()}

    def iter_live(self, kind_key: str) -> Iterator[dict[str, Any]]:
        """Like ``live`` but one record at a time, for large brands."""
        table = self._table(kind_key)
        names = table.names
        return (dict(zip(names, row, strict=False)) for row in table.live_rows())

    def count(self, kind_key: str) -> int:
        return len(self._table(kind_key))

    def get(self, kind_key: str, entity_id: int) -> dict[str, Any] | None:
        table = self._table(kind_key)
        row = table.get(entity_id)
        return None if row is None else table.as_dict(row)

    def select(
        self,
        kind_key: str,
        *,
        organization_id: int | None = None,
        created_from: date | None = None,
        created_through: date | None = None,
        updated_from: date | None = None,
        updated_through: date | None = None,
        row_id: int = 0,
        limit: int = 25_000,
    ) -> list[dict[str, Any]]:
        """One download page: filters are inclusive whole days, AND-combined; ``row_id`` is an inclusive lower
        bound on id; rows come in ascending id order, at most ``limit`` of them."""
        return self._table(kind_key).select(
            organization_id=organization_id,
            created_from=created_from,
            created_through=created_through,
            updated_from=updated_from,
            updated_through=updated_through,
            row_id=row_id,
            limit=limit,
        )

    def advance_day(self) -> list[dict[str, Any]]:
        """Simulate the next business day; returns its feed event payloads (without ``Id``) in time order."""
        self._world.today += 1
        events, deletions = Day(self._world).run()
        self.deletions.extend(deletions)
        return events
