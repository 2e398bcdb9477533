"""In-memory storage of one kind's records, in id order, with the filters the download API applies.

Rows are plain tuples in ``kind.column_names`` order, holding typed values. Ids only ever grow, so appending keeps
``ids`` sorted; a deleted record keeps its slot (``None``) so that positions stay valid. Parallel arrays hold the
created/updated day and organization of every slot, so a filtered page scans compact arrays instead of tuples.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left
from collections.abc import Iterator
from datetime import date
from itertools import islice
from typing import Any

import numpy as np

from pipelines.serviceminder.kinds import Kind

Row = tuple[Any, ...]
_GONE = -1  # day value of a deleted slot; every date filter excludes it


class Table:
    """The live records of one kind plus every id it ever issued."""

    def __init__(self, kind: Kind) -> None:
        self.kind = kind
        self.names: tuple[str, ...] = kind.column_names
        self.index: dict[str, int] = {name: i for i, name in enumerate(self.names)}
        self._created = self.index["created_at"]
        self._updated = self.index["updated_at"]
        self._org = self.index["organization_id"]
        self.ids = array("q")  # an array, not a list: the garbage collector never walks it
        self.rows: list[Row | None] = []
        self.cday = array("i")
        self.uday = array("i")
        self.org = array("q")
        self.live_count = 0

    def __len__(self) -> int:
        return self.live_count

    def append(self, row: Row) -> None:
        rid = row[0]
        if self.ids and rid <= self.ids[-1]:
            raise ValueError(f"{self.kind.key}: id {rid} does not exceed the last id {self.ids[-1]}")
        self.ids.append(rid)
        self.rows.append(row)
        self.cday.append(row[self._created].toordinal())
        self.uday.append(row[self._updated].toordinal())
        self.org.append(row[self._org])
        self.live_count += 1

    def extend(self, rows: list[Row]) -> None:
        """Bulk ``append`` for rows already in ascending id order (the generator's path)."""
        if not rows:
            return
        ids = [r[0] for r in rows]
        if (self.ids and ids[0] <= self.ids[-1]) or any(a >= b for a, b in zip(ids, ids[1:], strict=False)):
            raise ValueError(f"{self.kind.key}: rows are not in ascending id order after the existing ones")
        c, u, o = self._created, self._updated, self._org
        self.ids.extend(ids)
        self.rows.extend(rows)
        self.cday.extend([r[c].toordinal() for r in rows])
        self.uday.extend([r[u].toordinal() for r in rows])
        self.org.extend([r[o] for r in rows])
        self.live_count += len(rows)

    def position(self, rid: int) -> int | None:
        i = bisect_left(self.ids, rid)
        if i < len(self.ids) and self.ids[i] == rid and self.rows[i] is not None:
            return i
        return None

    def get(self, rid: int) -> Row | None:
        i = self.position(rid)
        return None if i is None else self.rows[i]

    def update(self, rid: int, **changes: Any) -> Row:
        """Replace some fields of a live record; the caller bumps ``updated_at`` itself."""
        i = self.position(rid)
        if i is None:
            raise KeyError(f"{self.kind.key} {rid} is not live")
        values = list(self.rows[i])  # type: ignore[arg-type]
        for name, value in changes.items():
            values[self.index[name]] = value
        row = tuple(values)
        self.rows[i] = row
        self.uday[i] = row[self._updated].toordinal()
        return row

    def delete(self, rid: int) -> Row:
        i = self.position(rid)
        if i is None:
            raise KeyError(f"{self.kind.key} {rid} is not live")
        row = self.rows[i]
        self.rows[i] = None
        self.cday[i] = self.uday[i] = _GONE
        self.live_count -= 1
        return row  # type: ignore[return-value]

    def live_rows(self) -> Iterator[Row]:
        return (r for r in self.rows if r is not None)

    def as_dict(self, row: Row) -> dict[str, Any]:
        return dict(zip(self.names, row, strict=True))

    def select(
        self,
        *,
        organization_id: int | None = None,
        created_from: date | None = None,
        created_through: date | None = None,
        updated_from: date | None = None,
        updated_through: date | None = None,
        row_id: int = 0,
        limit: int = 25_000,
    ) -> list[dict[str, Any]]:
        start = bisect_left(self.ids, row_id)
        rows = self.rows
        names = self.names
        if limit <= 0:
            return []
        filtered = organization_id is not None or any(
            d is not None for d in (created_from, created_through, updated_from, updated_through)
        )
        if not filtered:
            hits: Iterator[int] = (i for i in range(start, len(rows)) if rows[i] is not None)
        else:
            clo = max(0, created_from.toordinal()) if created_from else 0
            chi = created_through.toordinal() if created_through else 1 << 30
            ulo = max(0, updated_from.toordinal()) if updated_from else 0
            uhi = updated_through.toordinal() if updated_through else 1 << 30
            # vectorized over the compact day arrays: a filtered page at 1M rows scans in milliseconds, not seconds
            cday = np.frombuffer(self.cday, dtype=np.int32)[start:]
            uday = np.frombuffer(self.uday, dtype=np.int32)[start:]
            mask = (cday >= clo) & (cday <= chi) & (uday >= ulo) & (uday <= uhi)
            if organization_id is not None:
                mask &= np.frombuffer(self.org, dtype=np.int64)[start:] == organization_id
            hits = iter((np.flatnonzero(mask)[:limit] + start).tolist())
        return [dict(zip(names, rows[i], strict=False)) for i in islice(hits, limit)]  # type: ignore[arg-type]
