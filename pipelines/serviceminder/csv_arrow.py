"""A downloaded serviceminder CSV file -> typed pyarrow record batches, streamed block by block.

The file is parsed by ``pyarrow.csv.open_csv`` with every column read as raw bytes, then each batch is converted to
the types of ``kinds.py`` with vectorized ``pyarrow.compute`` kernels. Only values the fast kernels cannot handle go
through per-value Python (which either accepts them or rejects the row with a reason), so a clean file never runs a
Python loop per row.

Rejected rows carry their exact physical line number (1-based, the header is line 1; a line ends at ``\\r\\n``,
``\\n`` or a lone ``\\r``, and a record with a quoted line break starts on the line given) and their raw text (the
record as it is in the file, without its final line break; bytes that are not UTF-8 become U+FFFD). Arrow does not
report either for converted rows, so they come from a second reader, Python's ``csv`` module, that walks the file in
step with Arrow's records. It only runs when there is a bad row.

Arrow's streaming reader reads up to 32 blocks ahead of its consumer; the file is handed to it through a throttle so
memory stays flat (a few blocks) however large the file is.

Before the first batch, the file is checked for truncation: it must end with a line break outside quotes, and its
last record must have every field of the header. Otherwise :class:`TruncatedCsvError` is raised and nothing is
yielded, so a cut-off body is downloaded again rather than loaded in part.
"""

from __future__ import annotations

import atexit
import csv
import io
import logging
import os
import re
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation
from functools import cache
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv

from pipelines.serviceminder.kinds import ColumnType, Kind, snake_case

log = logging.getLogger(__name__)

ARROW_TYPES: dict[ColumnType, pa.DataType] = {
    "id": pa.int64(),
    "int": pa.int64(),
    "text": pa.string(),
    "money": pa.decimal128(18, 2),
    "decimal": pa.decimal128(18, 4),
    "timestamp": pa.timestamp("us"),
    "date": pa.date32(),
    "bool": pa.bool_(),
}
_DLT_TYPES: dict[ColumnType, str] = {
    "id": "bigint",
    "int": "bigint",
    "text": "text",
    "money": "decimal",
    "decimal": "decimal",
    "timestamp": "timestamp",
    "date": "date",
    "bool": "bool",
}
_TAIL_WINDOW = 64 << 10
_READ_AHEAD_BLOCKS = 4  # how far Arrow may read ahead of the batches taken; 2 is the least that cannot stall
_READ_AHEAD_VALVE_SECONDS = 5.0  # a stalled reader gets a block anyway after this long, so it can never hang
_MAX_VALUE_IN_REASON = 80

# A record can hold long free text (notes, descriptions); the csv module's default cap of 128 KiB per field would
# make the row locator fail on it. Only ever raised, never lowered.
csv.field_size_limit(max(csv.field_size_limit(), 1 << 30))


class TruncatedCsvError(ValueError):
    """The body was cut off: it does not end at a record boundary, or its last record has too few fields."""


class CsvHeaderError(ValueError):
    """The header cannot be used: the primary key column is missing."""


@dataclass(frozen=True)
class RejectedRow:
    kind: str
    download_id: str
    line_number: int  # physical line where the record starts, header = 1; 0 only if it could not be located
    raw_line: str
    reason: str
    entity_id: int | None = None  # the record's Id when it could be read, so a full refresh does not count it deleted


@dataclass
class CsvReport:
    """Filled in while :func:`read_csv_batches` is iterated."""

    rows: int = 0  # good rows yielded
    rejected: list[RejectedRow] = field(default_factory=list)
    missing_columns: list[str] = field(default_factory=list)  # kinds.py names absent from the header (NULL)
    extra_columns: list[str] = field(default_factory=list)  # snake_case names not in kinds.py (kept as text)
    max_id: int | None = None  # highest Id in any data row, good or rejected


def arrow_schema(kind: Kind, extra_columns: Sequence[str] = ()) -> pa.Schema:
    """Every kinds.py column in order with its Arrow type, then the extra columns as text."""
    fields = [pa.field(c.name, ARROW_TYPES[c.type], nullable=c.name != kind.primary_key) for c in kind.columns]
    fields += [pa.field(name, pa.string()) for name in extra_columns]
    return pa.schema(fields)


def dlt_column_hints(kind: Kind) -> dict[str, dict]:
    """dlt column schema for every kinds.py column: our types, not dlt's inference (which would make times UTC)."""
    hints: dict[str, dict] = {}
    for c in kind.columns:
        hint: dict = {"name": c.name, "data_type": _DLT_TYPES[c.type], "nullable": c.name != kind.primary_key}
        if c.type in ("money", "decimal"):
            arrow_type = ARROW_TYPES[c.type]
            hint["precision"], hint["scale"] = arrow_type.precision, arrow_type.scale
        elif c.type == "timestamp":
            hint["timezone"] = False
        if c.name == kind.primary_key:
            hint["primary_key"] = True
        hints[c.name] = hint
    return hints


def read_csv_batches(
    path: Path,
    kind: Kind,
    *,
    download_id: str,
    report: CsvReport,
    block_size: int = 2 << 20,
) -> Iterator[pa.RecordBatch]:
    """Yield the file's good rows as record batches of ``arrow_schema(kind, report.extra_columns)``.

    Bad rows go to ``report.rejected``. Raises :class:`TruncatedCsvError` before yielding anything if the file was
    cut off, and :class:`CsvHeaderError` if the header has no Id column. An empty or header-only file yields nothing.
    """
    path = Path(path)
    header = _read_header(path)
    if header is None:
        return
    fields, blank_lines_before = header
    _check_complete(path, kind, download_id, len(fields))
    layout = _Layout.from_header(fields, kind, download_id)
    report.missing_columns = list(layout.missing)
    report.extra_columns = [name for name, _ in layout.extras]
    if layout.missing:
        log.info("%s download %s has no column(s) %s: loaded as NULL", kind.key, download_id, ", ".join(layout.missing))

    skipped: list[str] = []  # texts of records Arrow skipped for a wrong field count

    def on_invalid_row(row: pcsv.InvalidRow) -> str:
        skipped.append(row.text)
        return "skip"

    column_names = [f"c{i}" for i in range(len(fields))]
    source = _ThrottledFile(path)
    try:
        reader = pcsv.open_csv(
            pa.PythonFile(source, mode="r"),
            read_options=pcsv.ReadOptions(
                column_names=column_names, skip_rows=blank_lines_before + 1, block_size=block_size, use_threads=True
            ),
            parse_options=pcsv.ParseOptions(newlines_in_values=True, invalid_row_handler=on_invalid_row),
            convert_options=pcsv.ConvertOptions(
                column_types={name: pa.binary() for name in column_names},
                null_values=[""],
                strings_can_be_null=True,
                quoted_strings_can_be_null=True,
            ),
        )
    except pa.ArrowInvalid as exc:
        source.stop()
        source.close()
        raise _unreadable(kind, download_id, exc) from exc
    _OPEN_READERS[id(source)] = (source, reader)
    source.throttle(_READ_AHEAD_BLOCKS)  # open_csv has read up to the first batch
    converter = _BatchConverter(kind, layout)
    locator = _Locator(path, len(fields))
    rejects = _Rejects(kind, download_id, report, layout, len(fields))
    ordinal = 0  # records Arrow has returned so far

    def next_raw() -> pa.RecordBatch | None:
        try:
            raw = reader.read_next_batch()
        except StopIteration:
            return None
        except pa.ArrowInvalid as exc:
            raise _unreadable(kind, download_id, exc) from exc
        source.release()
        return raw

    started: list[Future] = []
    try:
        raw = next_raw()
        while raw is not None:
            # the batch is typed while the next one is read; nothing runs while the caller holds the batch
            started = converter.start(raw)
            following = next_raw()
            batch, problems, max_id = converter.finish(raw, started)
            started = []
            rejects.note_max_id(max_id)
            for row, reasons in sorted(problems.items()):
                record = locator.good_record(ordinal + row)
                if record is None:  # the two parsers disagree; keep the row anyway, rebuilt from Arrow's fields
                    record = _Record(0, _rebuild_line(raw, row), [], False)
                rejects.add(record, "; ".join(reasons))
            ordinal += raw.num_rows
            report.rows += batch.num_rows
            if batch.num_rows:
                yield batch
            raw = following
        if skipped:
            rejects.add_field_count_rejects(locator.finish(), skipped)
        report.rejected.sort(key=lambda r: r.line_number)
    finally:
        wait(started)  # reading ahead failed: the typing tasks finish before the file closes
        locator.close()
        _stop_reader(source, reader)


def _unreadable(kind: Kind, download_id: str, exc: Exception) -> ValueError:
    return ValueError(
        f"{kind.key} download {download_id} is not a readable CSV file ({exc}); "
        "download it again, or raise block_size if a single record is larger than it"
    )


class _ThrottledFile(io.RawIOBase):
    """The file, handed to Arrow at most a few blocks ahead of the batches taken from the reader.

    Arrow's streaming CSV reader reads up to 32 blocks ahead of its consumer on a background thread (a fixed queue,
    not an option: ARROW-12090), so with 8 MiB blocks a 256 MiB file would sit in memory whole. Each ``read`` is
    one block; each batch taken gives back one read.
    """

    def __init__(self, path: Path) -> None:
        self._file = path.open("rb")
        self._cond = threading.Condition()
        self._credit: int | None = None  # unlimited until throttle(): open_csv skips empty batches on its own
        self._stopped = False

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        with self._cond:
            if self._credit is not None:
                if self._credit <= 0 and not self._stopped:
                    self._cond.wait_for(lambda: self._credit > 0 or self._stopped, _READ_AHEAD_VALVE_SECONDS)
                self._credit -= 1
            return b"" if self._stopped else self._file.read(size)

    def throttle(self, ahead: int) -> None:
        with self._cond:
            self._credit = ahead

    def release(self) -> None:
        with self._cond:
            if self._credit is not None:
                self._credit += 1
                self._cond.notify_all()

    def stop(self) -> None:
        """From now on Arrow reads end of file, so its background thread finishes."""
        with self._cond:
            self._stopped = True
            self._cond.notify_all()

    def close(self) -> None:
        self._file.close()
        super().close()


# Readers whose generator has not finished. Arrow's background thread calls back into Python to read the file, and
# it must be done with that before the interpreter shuts down, or CPython aborts ("PyGILState_Release"). A generator
# left open until exit is only finalized after that point, so its reader is stopped from an atexit hook instead.
_OPEN_READERS: dict[int, tuple[_ThrottledFile, pcsv.CSVStreamingReader]] = {}


def _stop_reader(source: _ThrottledFile, reader: pcsv.CSVStreamingReader) -> None:
    """Make Arrow read end of file, run the reader to its end (so its thread is done), and close both."""
    if _OPEN_READERS.pop(id(source), None) is None and source.closed:
        return
    source.stop()
    while True:
        try:
            reader.read_next_batch()
        except StopIteration:
            break
        except pa.ArrowException:
            break  # a block cut short by the stop; nothing of it is used
    reader.close()
    source.close()


@atexit.register
def _stop_open_readers() -> None:
    for source, reader in list(_OPEN_READERS.values()):
        _stop_reader(source, reader)


# ---------------------------------------------------------------------------------------------------------------
# Header and column layout


def _read_header(path: Path) -> tuple[list[str], int] | None:
    """The header's fields and how many blank lines precede it; None for a file with no header (empty or blank)."""
    scanner = _RecordScanner(path)
    try:
        first = scanner.next_record()
    finally:
        scanner.close()
    if first is None:
        return None
    return first.fields, first.line_number - 1


def _match_key(name: str) -> str:
    return name.replace("_", "")


@dataclass
class _Layout:
    """Where each output column comes from in the file (by field position)."""

    known: dict[str, int]  # kinds.py name -> position
    extras: list[tuple[str, int]]  # snake_case name -> position, in file order
    missing: list[str]

    @classmethod
    def from_header(cls, header: list[str], kind: Kind, download_id: str) -> _Layout:
        wanted = {c.name: c.name for c in kind.columns}
        # Also match without underscores, so "OrganizationId" (the JSON API's spelling) finds organization_id.
        loose = {_match_key(c.name): c.name for c in kind.columns}
        known: dict[str, int] = {}
        extras: list[tuple[str, int]] = []
        used = set(kind.column_names)
        for position, header_field in enumerate(header):
            name = snake_case(header_field)
            target = wanted.get(name) or loose.get(_match_key(name))
            if target is not None and target not in known:
                known[target] = position
                continue
            unique, n = name, 2
            while unique in used:
                unique, n = f"{name}_{n}", n + 1
            used.add(unique)
            extras.append((unique, position))
        if kind.primary_key not in known:
            raise CsvHeaderError(
                f"{kind.key} download {download_id} has no {kind.primary_key!r} column in its header "
                f"({', '.join(header)}); check the kind token for {kind.key} in sources.serviceminder.kind_tokens"
            )
        missing = [c.name for c in kind.columns if c.name not in known]
        return cls(known, extras, missing)


# ---------------------------------------------------------------------------------------------------------------
# Truncation


def _check_complete(path: Path, kind: Kind, download_id: str, n_fields: int) -> None:
    def cut_off(what: str) -> TruncatedCsvError:
        return TruncatedCsvError(
            f"{kind.key} download {download_id} was cut off ({what}); download it again, nothing was loaded from it"
        )

    size = path.stat().st_size
    with path.open("rb") as f:
        f.seek(size - 1)
        if f.read(1) not in (b"\n", b"\r"):
            raise cut_off("the file does not end with a line break")
        f.seek(0)
        quotes = 0
        while chunk := f.read(8 << 20):
            quotes += chunk.count(b'"')
        # With an even number of quotes the file ends outside quotes, and the last record can be found from the
        # tail alone. Odd means a cut inside a quoted field, or a stray quote mid-value (which both parsers read
        # literally): only a full walk with the csv module tells them apart. It also judges a tail that did not
        # come out as exactly one record (stray quotes again).
        last = _last_record_from_tail(f, size) if quotes % 2 == 0 else None
    if last is None or last.line_number == _UNSURE:
        last = _last_record_by_scan(path)
        if last is not None and last.ended_by_eof:
            raise cut_off("the file ends inside a quoted field")
    if last is not None and last.line_number != _HEADER_ONLY and len(last.fields) < n_fields:
        raise cut_off(f"its last record has {len(last.fields)} of the header's {n_fields} fields")


_UNSURE = -1  # line_number of a tail record that needs the full walk
_HEADER_ONLY = -2


def _last_record_from_tail(f: io.BufferedReader, size: int) -> _Record:
    """The last non-blank record, found from the file's tail by quote parity (the quotes before it are even)."""
    window = _TAIL_WINDOW
    while True:
        start = max(0, size - window)
        f.seek(start)
        body = f.read(size - start).rstrip(b"\r\n")
        quotes_after = 0
        end = len(body)
        while True:
            cut = max(body.rfind(b"\n", 0, end), body.rfind(b"\r", 0, end))
            if cut < 0:
                break
            quotes_after += body.count(b'"', cut + 1, end)
            end = cut
            if quotes_after % 2 == 0:
                return _parse_one_record(body[cut + 1 :])
        if start == 0:
            return _Record(_HEADER_ONLY, "", [], False)  # no record boundary at all: the header alone
        window *= 4


def _parse_one_record(data: bytes) -> _Record:
    text = data.decode("utf-8", "replace")
    try:
        records = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error:
        records = []
    if len(records) != 1:
        return _Record(_UNSURE, text, [], False)
    return _Record(0, text, records[0], False)


def _last_record_by_scan(path: Path) -> _Record | None:
    scanner = _RecordScanner(path)
    try:
        header = scanner.next_record()
        last = None
        while (record := scanner.next_record()) is not None:
            last = record
        if last is None and header is not None and header.ended_by_eof:
            return header  # the header itself is unterminated
        return last
    finally:
        scanner.close()


# ---------------------------------------------------------------------------------------------------------------
# Locating records: Python's csv module, in step with Arrow


@dataclass
class _Record:
    line_number: int
    raw: str
    fields: list[str]
    ended_by_eof: bool  # the file ended inside this record's quoted field


class _RecordScanner:
    """Records of the file with their first physical line and raw text, skipping blank lines like Arrow does."""

    def __init__(self, path: Path) -> None:
        self._file = path.open(encoding="utf-8-sig", errors="replace", newline="")
        self._lines_read = 0
        self._pending: list[str] = []
        self._exhausted = False
        self._reader = csv.reader(self._lines())

    def _lines(self) -> Iterator[str]:
        for line in self._file:
            self._lines_read += 1
            self._pending.append(line)
            yield line
        self._exhausted = True

    def next_record(self) -> _Record | None:
        while True:
            line_number = self._lines_read + 1
            self._pending = []
            try:
                fields = next(self._reader)
            except StopIteration:
                return None
            if fields:
                raw = "".join(self._pending)
                return _Record(line_number, _strip_line_break(raw), fields, self._exhausted)

    def close(self) -> None:
        self._file.close()


def _strip_line_break(raw: str) -> str:
    if raw.endswith("\r\n"):
        return raw[:-2]
    return raw[:-1] if raw.endswith(("\n", "\r")) else raw


class _Locator:
    """Maps Arrow's n-th returned record to its line and raw text. Started lazily, only moves forward."""

    def __init__(self, path: Path, n_fields: int) -> None:
        self._path = path
        self._n_fields = n_fields
        self._scanner: _RecordScanner | None = None
        self._good = -1  # ordinal of self._last among records with the right field count
        self._last: _Record | None = None
        self.wrong_field_count: list[_Record] = []

    def _scan(self) -> _RecordScanner:
        if self._scanner is None:
            self._scanner = _RecordScanner(self._path)
            self._scanner.next_record()  # the header
        return self._scanner

    def good_record(self, ordinal: int) -> _Record | None:
        scanner = self._scan()
        while self._good < ordinal:
            record = scanner.next_record()
            if record is None:
                return None
            if len(record.fields) == self._n_fields:
                self._good += 1
                self._last = record
            else:
                self.wrong_field_count.append(record)
        return self._last if self._good == ordinal else None

    def finish(self) -> list[_Record]:
        """Walk to the end; every record with a wrong field count seen so far, in file order."""
        scanner = self._scan()
        while (record := scanner.next_record()) is not None:
            if len(record.fields) != self._n_fields:
                self.wrong_field_count.append(record)
        return self.wrong_field_count

    def close(self) -> None:
        if self._scanner is not None:
            self._scanner.close()


def _rebuild_line(raw: pa.RecordBatch, row: int) -> str:
    values = [col[row].as_py() for col in raw.columns]
    text = [v.decode("utf-8", "replace") if v is not None else "" for v in values]
    out: list[str] = []
    csv.writer(_ListWriter(out), lineterminator="").writerow(text)
    return "".join(out)


class _ListWriter:
    def __init__(self, out: list[str]) -> None:
        self.write = out.append


class _Rejects:
    def __init__(self, kind: Kind, download_id: str, report: CsvReport, layout: _Layout, n_header: int) -> None:
        self._kind = kind
        self._download_id = download_id
        self._report = report
        self._id_position = layout.known[kind.primary_key]
        self._n_header = n_header

    def note_max_id(self, value: int | None) -> None:
        if value is not None and (self._report.max_id is None or value > self._report.max_id):
            self._report.max_id = value

    def add(self, record: _Record, reason: str) -> None:
        self._report.rejected.append(
            RejectedRow(
                self._kind.key, self._download_id, record.line_number, record.raw, reason, self._id_of(record.fields)
            )
        )

    def add_field_count_rejects(self, records: list[_Record], arrow_texts: list[str]) -> None:
        """``records``: what the csv module found; ``arrow_texts``: what Arrow skipped. They agree unless the two
        parsers read the file differently; then the rows only Arrow saw are kept too, without a line number."""
        for record in records:
            n = len(record.fields)
            self.add(record, f"the record has {n} field{'s' if n != 1 else ''}, the header has {self._n_header}")
            self._note_id_text(record.fields)
        if len(records) >= len(arrow_texts):
            return
        unmatched = Counter(arrow_texts) - Counter(record.raw for record in records)
        for text in unmatched.elements():
            fields = next(csv.reader([text]), [])
            reason = f"the record has {len(fields)} fields, the header has {self._n_header} (line not found)"
            self.add(_Record(0, text, fields, False), reason)
            self._note_id_text(fields)

    def _id_of(self, fields: list[str]) -> int | None:
        if self._id_position < len(fields):
            text = fields[self._id_position].strip()
            if re.fullmatch(r"-?\d{1,18}", text):
                return int(text)
        return None

    def _note_id_text(self, fields: list[str]) -> None:
        self.note_max_id(self._id_of(fields))


# ---------------------------------------------------------------------------------------------------------------
# Conversion


Stage = Callable[[pa.Array], pa.Array]  # string array -> typed array, null where it could not parse a value


def _quote_value(value: str) -> str:
    if len(value) > _MAX_VALUE_IN_REASON:
        value = value[:_MAX_VALUE_IN_REASON] + "..."
    return repr(value)


class _BatchConverter:
    def __init__(self, kind: Kind, layout: _Layout) -> None:
        self._kind = kind
        self._layout = layout
        self._schema = arrow_schema(kind, [name for name, _ in layout.extras])
        self._columns = [(c.name, c.type, layout.known.get(c.name), _Converter(c.type)) for c in kind.columns]
        self._id_index = [c.name for c in kind.columns].index(kind.primary_key)

    def start(self, raw: pa.RecordBatch) -> list[Future[tuple[pa.Array, dict[int, list[str]]]]]:
        """Start typing the batch's columns, one task per column: Arrow's kernels release the GIL, so the columns
        are typed on every core at once while the caller reads on."""
        pool = _typing_pool()
        return [pool.submit(self._convert_column, raw, *column) for column in self._columns]

    def finish(
        self, raw: pa.RecordBatch, started: list[Future[tuple[pa.Array, dict[int, list[str]]]]]
    ) -> tuple[pa.RecordBatch, dict[int, list[str]], int | None]:
        """The good rows, reasons per bad row index, and the highest Id in the batch (bad rows included)."""
        columns = [future.result() for future in started]
        problems: dict[int, list[str]] = {}
        for _, column_problems in columns:  # merged in column order, as one pass over the row would find them
            for row, reasons in column_problems.items():
                problems.setdefault(row, []).extend(reasons)
        arrays = [array for array, _ in columns]
        max_id = pc.max(arrays[self._id_index]).as_py()
        for name, position in self._layout.extras:
            arrays.append(_to_text(raw.column(position), name, problems))
        batch = pa.RecordBatch.from_arrays(arrays, schema=self._schema)
        if problems:
            keep = pa.array([row not in problems for row in range(raw.num_rows)], pa.bool_())
            batch = batch.filter(keep)
        return batch, problems, max_id

    def _convert_column(
        self, raw: pa.RecordBatch, name: str, ctype: ColumnType, position: int | None, converter: _Converter
    ) -> tuple[pa.Array, dict[int, list[str]]]:
        problems: dict[int, list[str]] = {}
        if position is None:
            return pa.nulls(raw.num_rows, ARROW_TYPES[ctype]), problems
        typed = converter.convert(_to_text(raw.column(position), name, problems), name, problems)
        if name == self._kind.primary_key and typed.null_count:
            prefix = f"column {name}:"
            for row in pc.indices_nonzero(pc.is_null(typed)).to_pylist():
                reasons = problems.setdefault(row, [])
                if not any(r.startswith(prefix) for r in reasons):  # blank, not already judged as bad
                    reasons.append(f"{prefix} is empty (every row needs an Id)")
        return typed, problems


@cache
def _typing_pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=os.cpu_count() or 1, thread_name_prefix="csv-typing")


def _to_text(raw: pa.Array, name: str, problems: dict[int, list[str]]) -> pa.Array:
    try:
        return raw.cast(pa.string())
    except pa.ArrowInvalid:
        pass
    values: list[str | None] = []
    for row, value in enumerate(raw.to_pylist()):
        if value is None:
            values.append(None)
            continue
        try:
            values.append(value.decode("utf-8"))
        except UnicodeDecodeError:
            values.append(None)
            shown = _quote_value(value.decode("utf-8", "replace"))
            problems.setdefault(row, []).append(f"column {name}: {shown} is not valid UTF-8 text")
    return pa.array(values, pa.string())


class _Converter:
    """One column's text -> type conversion: vectorized stages first, then per-value Python for what is left.

    The stages are tried in most-recently-successful order, so a file in one format pays for one stage per batch.
    A column that repeats its values (prices, appointment slots, yes/no) is converted one distinct value at a time:
    finding them costs a hash per value, which is less than parsing each value again. A column that stopped
    repeating is not looked at that way again for a while.
    """

    def __init__(self, ctype: ColumnType) -> None:
        self._type = ARROW_TYPES[ctype]
        self._stages: list[Stage] = list(_STAGES[ctype]())
        self._slow = _SLOW[ctype]
        # batches to convert value by value before checking for repeats again; None where parsing costs less
        # than the hash that finds the repeats
        self._repeats_checked_in: int | None = 0 if ctype in _PARSED_AS_DISTINCT else None

    def convert(self, text: pa.Array, name: str, problems: dict[int, list[str]]) -> pa.Array:
        if not self._stages:
            return text
        if text.null_count == len(text):
            return pa.nulls(len(text), self._type)
        if self._repeats_checked_in is None:
            return self._convert_values(text, name, problems)
        if self._repeats_checked_in > 0:
            self._repeats_checked_in -= 1
            return self._convert_values(text, name, problems)
        encoded = pc.dictionary_encode(text)
        if len(encoded.dictionary) > (len(text) - text.null_count) * _MOST_DISTINCT:
            self._repeats_checked_in = _REPEATS_RECHECK
            return self._convert_values(text, name, problems)
        distinct_problems: dict[int, list[str]] = {}
        typed = self._convert_values(encoded.dictionary, name, distinct_problems).take(encoded.indices)
        if distinct_problems:
            bad = pa.array(list(distinct_problems), encoded.indices.type)
            rows = pc.indices_nonzero(pc.is_in(encoded.indices, value_set=bad))
            for row, value in zip(rows.to_pylist(), encoded.indices.take(rows).to_pylist(), strict=True):
                problems.setdefault(row, []).extend(distinct_problems[value])
        return typed

    def _convert_values(self, text: pa.Array, name: str, problems: dict[int, list[str]]) -> pa.Array:
        # A stage's result is null wherever the text is, so equal null counts mean every value was parsed.
        result: pa.Array | None = None
        best, best_count = 0, -1
        for i, stage in enumerate(self._stages):
            source = text if result is None else pc.if_else(pc.is_null(result), text, pa.scalar(None, pa.string()))
            parsed = stage(source)
            count = len(parsed) - parsed.null_count
            if count > best_count:
                best, best_count = i, count
            result = parsed if result is None else pc.coalesce(result, parsed)
            if result.null_count == text.null_count:
                break
        if best:
            self._stages.insert(0, self._stages.pop(best))
        if result.null_count == text.null_count:
            return result
        pending = pc.and_(pc.is_valid(text), pc.is_null(result))
        rows = pc.indices_nonzero(pending).to_pylist()
        values = []
        for row in rows:
            value = text[row].as_py()
            try:
                values.append(self._slow(value))
            except ValueError as exc:
                values.append(None)
                problems.setdefault(row, []).append(f"column {name}: {_quote_value(value)} {exc}")
        return pc.replace_with_mask(result, pending, pa.array(values, self._type))


_PARSED_AS_DISTINCT: frozenset[ColumnType] = frozenset({"money", "decimal", "timestamp", "date"})
_MOST_DISTINCT = 0.5  # share of a batch's values that may be distinct for the column to be converted as distinct
_REPEATS_RECHECK = 16  # batches converted value by value before a column that did not repeat is checked again


# --- vectorized stages ------------------------------------------------------------------------------------------


def _cast_stage(target: pa.DataType) -> Stage:
    """Arrow's strict cast; it is all-or-nothing, so on any bad value it parses nothing and later stages go on."""

    def stage(arr: pa.Array) -> pa.Array:
        try:
            return pc.cast(arr, target)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return pa.nulls(len(arr), target)

    return stage


def _regex_cast_stage(
    pattern: str, target: pa.DataType, rewrite: Callable[[pa.Array], pa.Array] | None = None
) -> Stage:
    """Cast only the values matching ``pattern`` (which guarantees the cast succeeds), after ``rewrite``."""

    def stage(arr: pa.Array) -> pa.Array:
        ok = pc.match_substring_regex(arr, pattern)
        source = pc.if_else(ok, arr, pa.scalar(None, pa.string()))
        if rewrite is not None:
            source = rewrite(source)
        try:
            return pc.cast(source, target)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return pa.nulls(len(arr), target)

    return stage


def _int_stages() -> list[Stage]:
    return [_cast_stage(pa.int64()), _regex_cast_stage(r"^-?[0-9]{1,18}$", pa.int64())]


_MONEY_NUMBER = r"(?:[0-9]{1,3}(?:,[0-9]{3}){0,4}|[0-9]{1,16})(?:\.[0-9]{1,2})?"
_MONEY_FAST = rf"^(?:-\$?|\$-?)?{_MONEY_NUMBER}$|^\(\$?{_MONEY_NUMBER}\)$"


def _money_rewrite(arr: pa.Array) -> pa.Array:
    for old, new in (("(", "-"), (")", ""), ("$", ""), (",", "")):
        arr = pc.replace_substring(arr, old, new)
    return arr


def _money_stages() -> list[Stage]:
    target = ARROW_TYPES["money"]
    return [_cast_stage(target), _regex_cast_stage(_MONEY_FAST, target, _money_rewrite)]


def _decimal_stages() -> list[Stage]:
    target = ARROW_TYPES["decimal"]
    return [_cast_stage(target), _regex_cast_stage(r"^-?[0-9]{1,14}(?:\.[0-9]{1,4})?$", target)]


_TRUE = pa.array(["yes", "y", "true", "1"])
_FALSE = pa.array(["no", "n", "false", "0"])


def _bool_stage(arr: pa.Array) -> pa.Array:
    lower = pc.utf8_lower(arr)
    return pc.if_else(
        pc.is_in(lower, value_set=_TRUE),
        True,
        pc.if_else(pc.is_in(lower, value_set=_FALSE), False, pa.scalar(None, pa.bool_())),
    )


def _bool_stages() -> list[Stage]:
    return [_bool_stage]


_NULL_TS = pa.scalar(None, pa.timestamp("us"))


def _strptime_stage(fmt: str) -> Stage:
    # where the day of the month is written: the 2nd "/" part of M/D/YYYY, the 3rd "-" part of YYYY-MM-DD
    separator, day_part = ("/", 1) if fmt.startswith("%m/") else ("-", 2)

    def stage(arr: pa.Array) -> pa.Array:
        ts = pc.strptime(arr, format=fmt, unit="us", error_is_null=True)
        return _drop_lenient_parses(arr, ts, separator, day_part)

    return stage


_YEAR_1000 = pa.scalar(datetime(1000, 1, 1), pa.timestamp("us"))


def _drop_lenient_parses(arr: pa.Array, ts: pa.Array, separator: str, day_part: int) -> pa.Array:
    """The C library's strptime rolls 2/30 over into March 2 and reads "26" as the year 26. Null those, so the
    strict per-value path judges them. A roll-over always lands on day 1 to 3, so only those days are checked."""
    bad_rows: list[int] = []
    if pc.any(pc.less(ts, _YEAR_1000)).as_py():
        bad_rows += pc.indices_nonzero(pc.fill_null(pc.less(ts, _YEAR_1000), False)).to_pylist()
    parsed_day = pc.day(ts)
    suspects = pc.indices_nonzero(pc.fill_null(pc.less_equal(parsed_day, 3), False))
    if len(suspects):
        parts = pc.split_pattern(arr.take(suspects), separator, max_splits=day_part + 1)
        try:
            # "26", " 6", "6 10:00:00" or "6T10:00" -> the day's digits
            written = pc.utf8_trim(pc.utf8_slice_codeunits(pc.list_element(parts, day_part), 0, 2), " T")
            rolled = pc.not_equal(pc.cast(written, pa.int64()), parsed_day.take(suspects))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            rolled = pa.array([True] * len(suspects))  # odd spacing: let the per-value path judge them all
        bad_rows += suspects.filter(pc.fill_null(rolled, True)).to_pylist()
    if not bad_rows:
        return ts
    bad = [False] * len(ts)  # real roll-overs are bad data, so this is rare
    for row in bad_rows:
        bad[row] = True
    return pc.if_else(pa.array(bad), _NULL_TS, ts)


def _timestamp_stages() -> list[Stage]:
    return [
        _strptime_stage("%m/%d/%Y %I:%M:%S %p"),
        _strptime_stage("%m/%d/%Y %I:%M %p"),
        _strptime_stage("%m/%d/%Y %H:%M:%S"),
        _strptime_stage("%m/%d/%Y %H:%M"),
        _strptime_stage("%m/%d/%Y"),
        _cast_stage(pa.timestamp("us")),  # strict ISO 8601, fractions included
        _strptime_stage("%Y-%m-%d %H:%M:%S"),
        _strptime_stage("%Y-%m-%dT%H:%M:%S"),
        _strptime_stage("%Y-%m-%d"),
    ]


def _date_from_timestamp(stage: Stage) -> Stage:
    def date_stage(arr: pa.Array) -> pa.Array:
        ts = stage(arr)
        midnight = pc.equal(pc.floor_temporal(ts, 1, "day"), ts)
        return pc.cast(pc.if_else(midnight, ts, _NULL_TS), pa.date32())

    return date_stage


def _date_stages() -> list[Stage]:
    stages = _timestamp_stages()
    stages.insert(0, stages.pop(4))  # bare M/D/YYYY first
    return [_cast_stage(pa.date32()), *(_date_from_timestamp(s) for s in stages)]


# --- per-value Python, for what the stages left ------------------------------------------------------------------
# Each returns the value (None for blank) or raises ValueError with the end of a sentence: "is not a date".

_INT_RE = re.compile(r"[+-]?(?:\d+|\d{1,3}(?:,\d{3})+)(?:\.0*)?")
# Arrow's decimal cast takes exponents ("1.5E+3"), so this path does too: whether a value is accepted must not
# depend on which path its batch took.
_NUMBER_RE = re.compile(r"(?:(?:\d+|\d{1,3}(?:,\d{3})+)(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d{1,3})?")
_INT64_MAX = 2**63 - 1


def _slow_int(value: str) -> int | None:
    s = value.strip()
    if not s:
        return None
    if not _INT_RE.fullmatch(s):
        raise ValueError("is not a whole number")
    number = int(s.split(".")[0].replace(",", ""))
    if not -_INT64_MAX - 1 <= number <= _INT64_MAX:
        raise ValueError("is out of range for a 64-bit integer")
    return number


def _slow_number(value: str, places: int, money: bool) -> Decimal | None:
    s = value.strip()
    if not s:
        return None
    negative = False
    if money and s.startswith("(") and s.endswith(")"):
        negative, s = True, s[1:-1].strip()
    sign_seen = False
    for _ in range(2):  # a sign and a dollar sign, in either order
        if s[:1] in ("-", "+") and not sign_seen:
            negative, sign_seen, s = negative != (s[0] == "-"), True, s[1:]
        elif money and s[:1] == "$":
            s = s[1:]
    what = "is not a money amount" if money else "is not a decimal number"
    if not _NUMBER_RE.fullmatch(s):
        raise ValueError(what)
    try:
        number = Decimal(s.replace(",", ""))
    except InvalidOperation as exc:
        raise ValueError(what) from exc
    if abs(number) >= Decimal(10) ** (18 - places):
        raise ValueError(f"is too large for DECIMAL(18,{places})")
    rounded = number.quantize(Decimal(1).scaleb(-places))
    if rounded != number:
        raise ValueError(f"has more than {places} decimal places")
    return -rounded if negative else rounded


_US_DATETIME_RE = re.compile(
    r"(\d{1,2})/(\d{1,2})/(\d{4})"
    r"(?:[ T]+(\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)?\s*([AaPp][Mm])?)?"
)


def _slow_timestamp(value: str) -> datetime | None:
    s = value.strip()
    if not s:
        return None
    try:
        return _parse_local_datetime(s)
    except ValueError:
        raise ValueError("is not a date-time") from None


def _parse_local_datetime(s: str) -> datetime:
    m = _US_DATETIME_RE.fullmatch(s)
    if m is None:
        parsed = datetime.fromisoformat(s)
        if parsed.tzinfo is not None:
            raise ValueError("has a time zone")
        return parsed
    month, day, year, hour, minute, second, fraction, half = m.groups()
    h = int(hour or 0)
    if half is not None:
        if not 1 <= h <= 12:
            raise ValueError("bad 12-hour clock")
        h = h % 12 + (12 if half.lower() == "pm" else 0)
    micro = int((fraction or "0").ljust(6, "0"))
    return datetime(int(year), int(month), int(day), h, int(minute or 0), int(second or 0), micro)


def _slow_date(value: str) -> date | None:
    s = value.strip()
    if not s:
        return None
    try:
        parsed = _parse_local_datetime(s)
    except ValueError:
        raise ValueError("is not a date") from None
    if parsed.time() != time(0):
        raise ValueError("is not a date (it has a time of day)")
    return parsed.date()


def _slow_bool(value: str) -> bool | None:
    s = value.strip().lower()
    if not s:
        return None
    if s in ("yes", "y", "true", "1"):
        return True
    if s in ("no", "n", "false", "0"):
        return False
    raise ValueError("is not a yes/no value")


_STAGES: dict[ColumnType, Callable[[], list[Stage]]] = {
    "id": _int_stages,
    "int": _int_stages,
    "text": list,
    "money": _money_stages,
    "decimal": _decimal_stages,
    "timestamp": _timestamp_stages,
    "date": _date_stages,
    "bool": _bool_stages,
}
_SLOW: dict[ColumnType, Callable[[str], object]] = {
    "id": _slow_int,
    "int": _slow_int,
    "text": str,
    "money": lambda v: _slow_number(v, 2, money=True),
    "decimal": lambda v: _slow_number(v, 4, money=False),
    "timestamp": _slow_timestamp,
    "date": _slow_date,
    "bool": _slow_bool,
}
