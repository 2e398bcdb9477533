"""Render download rows as serviceminder's CSV files (contract §2.1), as the sandbox serves them.

UTF-8 with a byte-order mark, CRLF after every record (the last one too), a header of human-readable column names,
minimal quoting (fields with a comma, a quote or a line break), ``M/D/YYYY`` dates, ``M/D/YYYY h:mm:ss AM``
date-times, ``$1,234.50`` money (``-$1,234.50`` when negative), ``Yes``/``No`` booleans, and empty fields for NULL.
Formatting is cached per distinct value, so 25,000 rows render in a small fraction of a second.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Collection, Iterable
from datetime import date, datetime
from decimal import Decimal
from operator import itemgetter
from typing import Any

from pipelines.serviceminder.kinds import Column, Kind

BOM = b"\xef\xbb\xbf"
_CACHE_LIMIT = 500_000  # distinct values per cache before it is cleared, to bound memory

# values that no loader may accept: an impossible date and a money field that is not a number; neither is a
# token that CSV readers treat as NULL by default ("N/A", "NA", "null", ...)
BAD_DATE = "13/45/2026"
BAD_TIMESTAMP = "13/45/2026 10:00:00 AM"
BAD_MONEY = "twelve dollars"
EXTRA_FIELD = "unexpected extra field"

_dates: dict[int, str] = {}
_times: dict[int, str] = {}
_moneys: dict[Decimal, str] = {}


def format_date(v: date) -> str:
    key = v.toordinal()
    s = _dates.get(key)
    if s is None:
        s = _dates[key] = f"{v.month}/{v.day}/{v.year}"
    return s


def format_timestamp(v: datetime) -> str:
    key = v.toordinal()
    d = _dates.get(key)
    if d is None:
        d = _dates[key] = f"{v.month}/{v.day}/{v.year}"
    h = v.hour
    t_key = h * 3600 + v.minute * 60 + v.second
    t = _times.get(t_key)
    if t is None:
        t = _times[t_key] = f" {h % 12 or 12}:{v.minute:02d}:{v.second:02d} {'PM' if h >= 12 else 'AM'}"
    return d + t


def format_money(v: Decimal) -> str:
    s = _moneys.get(v)
    if s is None:
        if len(_moneys) > _CACHE_LIMIT:
            _moneys.clear()
        s = _moneys[v] = f"-${-v:,.2f}" if v < 0 else f"${abs(v):,.2f}"  # abs: no "$-0.00"
    return s


def format_decimal(v: Decimal) -> str:
    return f"{v:f}"


def format_bool(v: bool) -> str:
    return "Yes" if v else "No"


# id, int and text pass straight to the csv writer, which writes None as an empty field
_FORMATTERS: dict[str, Callable[[Any], str]] = {
    "money": format_money,
    "decimal": format_decimal,
    "timestamp": format_timestamp,
    "date": format_date,
    "bool": format_bool,
}


def render_csv(
    kind: Kind,
    rows: Iterable[dict[str, Any]],
    *,
    extra_columns: dict[str, str] | None = None,
    missing_columns: Iterable[str] = (),
    malformed_ids: Collection[int] = (),
) -> bytes:
    """The CSV file of one download page.

    ``extra_columns`` (header -> constant value) are appended to every row, like a brand's own extra columns.
    ``missing_columns`` (kinds.py column names) are left out entirely. Rows whose id is in ``malformed_ids`` are
    rendered broken, by id modulo 3: an extra field, an impossible date, or money that is not a number.
    """
    missing = set(missing_columns)
    unknown = missing - set(kind.column_names)
    if unknown:
        raise ValueError(
            f"missing_columns for {kind.key} names unknown column(s) {', '.join(sorted(unknown))}; "
            f"use kinds.py column names such as {kind.column_names[1]!r}"
        )
    columns = [c for c in kind.columns if c.name not in missing]
    extra = dict(extra_columns or {})
    names = [c.name for c in columns]
    getter: Callable[[dict[str, Any]], Any]
    if len(names) == 1:
        only = names[0]

        def getter(row: dict[str, Any]) -> tuple[Any, ...]:
            return (row[only],)
    else:
        getter = itemgetter(*names)
    special = [(i, _FORMATTERS[c.type]) for i, c in enumerate(columns) if c.type in _FORMATTERS]
    extra_values = list(extra.values())
    broken = malformed_ids if isinstance(malformed_ids, set | frozenset | dict) else set(malformed_ids)

    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow([c.header for c in columns] + list(extra))
    for row in rows:
        values = list(getter(row))
        for i, fmt in special:
            v = values[i]
            if v is not None:
                values[i] = fmt(v)
        if extra_values:
            values.extend(extra_values)
        if broken and row["id"] in broken:
            _break(values, columns, row["id"])
        writer.writerow(values)
    if len(_dates) > _CACHE_LIMIT or len(_times) > 86_400:
        _dates.clear()
    return BOM + buf.getvalue().encode("utf-8")


def _break(values: list[Any], columns: list[Column], row_id: int) -> None:
    variant = row_id % 3
    if variant == 1:
        i = _first(columns, ("timestamp", "date"), prefer="created_at")
        if i is not None:
            values[i] = BAD_TIMESTAMP if columns[i].type == "timestamp" else BAD_DATE
            return
    elif variant == 2:
        i = _first(columns, ("money",))
        if i is not None:
            values[i] = BAD_MONEY
            return
    values.append(EXTRA_FIELD)


def _first(columns: list[Column], types: tuple[str, ...], prefer: str | None = None) -> int | None:
    found = None
    for i, c in enumerate(columns):
        if c.type in types:
            if c.name == prefer:
                return i
            if found is None:
                found = i
    return found
