"""csv_arrow: a downloaded CSV file -> typed pyarrow batches, rejected rows, truncation, streaming."""

from __future__ import annotations

import random
import subprocess
import sys
import textwrap
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest

from pipelines.serviceminder import csv_arrow
from pipelines.serviceminder.csv_arrow import (
    CsvHeaderError,
    CsvReport,
    TruncatedCsvError,
    arrow_schema,
    dlt_column_hints,
    read_csv_batches,
)
from pipelines.serviceminder.kinds import APPOINTMENTS, CONTACTS, Column, Kind


@pytest.fixture(autouse=True, params=["value by value", "distinct values"])
def conversion(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every test runs both ways a column can be converted: each value, or each distinct value once (which the
    reader picks per column by how much it repeats, so small test files would otherwise take only the first)."""
    monkeypatch.setattr(csv_arrow, "_MOST_DISTINCT", -1.0 if request.param == "value by value" else 1.0)
    return request.param


# A small kind with one column of every type, so each test's CSV stays readable.
THINGS = Kind(
    key="things",
    brand_token="branding-things",
    org_token="things",
    table="things",
    entity_type="Thing",
    columns=(
        Column("Id", "id", "id"),
        Column("Count", "count", "int"),
        Column("Amount", "amount", "money"),
        Column("Quantity", "quantity", "decimal"),
        Column("Starts At", "starts_at", "timestamp"),
        Column("Due On", "due_on", "date"),
        Column("Active", "active", "bool"),
        Column("Postal Code", "postal_code", "text"),
    ),
)
HEADER = "Id,Count,Amount,Quantity,Starts At,Due On,Active,Postal Code"
REAL_MOST_DISTINCT = csv_arrow._MOST_DISTINCT


def write(tmp_path: Path, text: str, *, newline: str = "\r\n", bom: bool = False, name: str = "f.csv") -> Path:
    path = tmp_path / name
    body = text.replace("\r\n", "\n").replace("\n", newline)
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + body.encode("utf-8"))
    return path


def read(path: Path, kind: Kind = THINGS, **kwargs) -> tuple[pa.Table, CsvReport]:
    report = CsvReport()
    batches = list(read_csv_batches(path, kind, download_id="dl-1", report=report, **kwargs))
    return pa.Table.from_batches(batches, schema=arrow_schema(kind, report.extra_columns)), report


def rows(tmp_path: Path, *lines: str, kind: Kind = THINGS, header: str = HEADER) -> tuple[list[dict], CsvReport]:
    table, report = read(write(tmp_path, "\n".join([header, *lines]) + "\n"), kind)
    return table.to_pylist(), report


def one(tmp_path: Path, line: str) -> dict:
    out, report = rows(tmp_path, line)
    assert report.rejected == [], report.rejected
    assert len(out) == 1
    return out[0]


def quote(value: str) -> str:
    return '"' + value.replace('"', '""') + '"' if "," in value or '"' in value else value


def column(tmp_path: Path, name: str, values: list[str]) -> list:
    """Parse ``values`` in column ``name`` of THINGS (all other fields empty); fails on any rejection."""
    names = [c.name for c in THINGS.columns]
    lines = []
    for i, value in enumerate(values, start=1):
        fields = [""] * len(names)
        fields[0] = str(i)
        fields[names.index(name)] = quote(value)
        lines.append(",".join(fields))
    out, report = rows(tmp_path, *lines)
    assert report.rejected == [], report.rejected
    return [r[name] for r in out]


# --- types -------------------------------------------------------------------------------------------------------


def test_schema_has_every_kind_column_in_order_with_our_types_then_extras() -> None:
    schema = arrow_schema(THINGS, ["notes"])
    assert schema.names == [c.name for c in THINGS.columns] + ["notes"]
    assert [str(t) for t in schema.types] == [
        "int64",
        "int64",
        "decimal128(18, 2)",
        "decimal128(18, 4)",
        "timestamp[us]",
        "date32[day]",
        "bool",
        "string",
        "string",
    ]
    assert schema.field("id").nullable is False
    assert schema.field("count").nullable is True
    assert schema.field("starts_at").type.tz is None


def test_dlt_hints_state_types_precision_and_zone_less_timestamps() -> None:
    hints = dlt_column_hints(THINGS)
    assert list(hints) == [c.name for c in THINGS.columns]
    assert hints["id"] == {"name": "id", "data_type": "bigint", "nullable": False, "primary_key": True}
    assert hints["count"] == {"name": "count", "data_type": "bigint", "nullable": True}
    assert hints["amount"] == {"name": "amount", "data_type": "decimal", "nullable": True, "precision": 18, "scale": 2}
    assert hints["quantity"]["scale"] == 4
    assert hints["starts_at"] == {"name": "starts_at", "data_type": "timestamp", "nullable": True, "timezone": False}
    assert hints["due_on"]["data_type"] == "date"
    assert hints["active"]["data_type"] == "bool"
    assert hints["postal_code"]["data_type"] == "text"


def test_ints_and_ids(tmp_path: Path) -> None:
    assert column(tmp_path, "count", ["7", "0012", "-3", " 42 ", "1,234", "9223372036854775807", "30.00"]) == [
        7,
        12,
        -3,
        42,
        1234,
        9223372036854775807,
        30,
    ]


def test_money_formats_are_exact_decimals(tmp_path: Path) -> None:
    values = ["$1,234.50", "-$1,234.50", "$-1,234.50", "(1,234.50)", "($5.00)", "1234.5", "0.1", "12.3400", "$0", "7"]
    expected = ["1234.50", "-1234.50", "-1234.50", "-1234.50", "-5.00", "1234.50", "0.10", "12.34", "0.00", "7.00"]
    assert column(tmp_path, "amount", values) == [Decimal(e) for e in expected]


def test_money_sum_is_exact(tmp_path: Path) -> None:
    rnd = random.Random(3)
    cents = [rnd.randint(-500_000, 5_000_000) for _ in range(3000)]
    values = [f'"{"-" if c < 0 else ""}${abs(c) // 100:,}.{abs(c) % 100:02d}"' for c in cents]
    table, report = read(write(tmp_path, HEADER + "\n" + "".join(f"{i},,{v},,,,,\n" for i, v in enumerate(values, 1))))
    assert report.rejected == []
    assert sum(table.column("amount").to_pylist()) == sum(Decimal(c) / 100 for c in cents)


def test_decimals_keep_four_places(tmp_path: Path) -> None:
    assert column(tmp_path, "quantity", ["1.5", "2.2500", "0.0001", "1,000.1234", "-3"]) == [
        Decimal("1.5000"),
        Decimal("2.2500"),
        Decimal("0.0001"),
        Decimal("1000.1234"),
        Decimal("-3.0000"),
    ]


def test_timestamp_formats_are_local_wall_clock_times(tmp_path: Path) -> None:
    values = [
        "8/26/2026 10:00:00 AM",
        "8/26/2026 1:05:09 PM",
        "12/1/2026 12:00:00 AM",
        "12/1/2026 12:30:00 PM",
        "8/26/2026 10:00 pm",
        "08/06/2026 23:15:00",
        "8/6/2026 7:15",
        "2026-08-26 10:00:00",
        "2026-08-26T10:00:00",
        "2026-08-26 10:00:00.250",
        "8/26/2026",
        "2026-08-26",
        " 8/26/2026 10:00:00 AM ",
    ]
    assert column(tmp_path, "starts_at", values) == [
        datetime(2026, 8, 26, 10),
        datetime(2026, 8, 26, 13, 5, 9),
        datetime(2026, 12, 1, 0),
        datetime(2026, 12, 1, 12, 30),
        datetime(2026, 8, 26, 22),
        datetime(2026, 8, 6, 23, 15),
        datetime(2026, 8, 6, 7, 15),
        datetime(2026, 8, 26, 10),
        datetime(2026, 8, 26, 10),
        datetime(2026, 8, 26, 10, 0, 0, 250_000),
        datetime(2026, 8, 26),
        datetime(2026, 8, 26),
        datetime(2026, 8, 26, 10),
    ]


def test_leap_day_and_month_ends_parse(tmp_path: Path) -> None:
    assert column(tmp_path, "starts_at", ["2/29/2028 1:00:00 AM", "1/31/2026 11:59:59 PM", "4/30/2026"]) == [
        datetime(2028, 2, 29, 1),
        datetime(2026, 1, 31, 23, 59, 59),
        datetime(2026, 4, 30),
    ]


def test_dates(tmp_path: Path) -> None:
    assert column(tmp_path, "due_on", ["8/26/2026", "1/2/2026", "2026-08-26", "8/26/2026 12:00:00 AM"]) == [
        date(2026, 8, 26),
        date(2026, 1, 2),
        date(2026, 8, 26),
        date(2026, 8, 26),
    ]


def test_booleans(tmp_path: Path) -> None:
    values = ["Yes", "No", "TRUE", "false", "1", "0", "Y", "n", "yes "]
    assert column(tmp_path, "active", values) == [True, False, True, False, True, False, True, False, True]


def test_text_is_kept_exactly_and_leading_zeros_stay(tmp_path: Path) -> None:
    values = ["02134", "0123 456", "  padded  ", "NA", "NULL", "N/A", "nan", "Zoë 😀"]
    assert column(tmp_path, "postal_code", values) == values


def test_empty_is_null_for_every_type(tmp_path: Path) -> None:
    row = one(tmp_path, '1,,,"",,,,""')
    assert row == {c.name: None for c in THINGS.columns} | {"id": 1}


def test_whitespace_only_is_null_in_typed_columns(tmp_path: Path) -> None:
    row = one(tmp_path, "1, , ,  , , , ,  ")
    assert row == {c.name: None for c in THINGS.columns} | {"id": 1, "postal_code": "  "}


# --- file shape --------------------------------------------------------------------------------------------------

SHAPES_TEXT = (
    HEADER + "\n"
    '1,3,"$1,234.50",1.5,8/26/2026 10:00:00 AM,8/26/2026,Yes,"Main St, ""Unit 2"""\n'
    '2,4,$5.00,,2026-08-26 10:00:00,,No,"line one\nline two"\n'
)


@pytest.mark.parametrize("newline", ["\r\n", "\n"])
@pytest.mark.parametrize("bom", [False, True])
def test_bom_and_line_endings_and_quoting(tmp_path: Path, newline: str, bom: bool) -> None:
    table, report = read(write(tmp_path, SHAPES_TEXT, newline=newline, bom=bom))
    assert report.rejected == [] and report.rows == 2 and report.missing_columns == [] == report.extra_columns
    first, second = table.to_pylist()
    assert first["id"] == 1 and first["amount"] == Decimal("1234.50") and first["active"] is True
    assert first["postal_code"] == 'Main St, "Unit 2"'
    assert second["postal_code"] == f"line one{newline}line two"  # embedded line breaks are kept as sent
    assert second["starts_at"] == datetime(2026, 8, 26, 10)


def test_header_words_match_case_and_spacing_insensitively(tmp_path: Path) -> None:
    header = "ID , count,AMOUNT,quantity,starts  at,Due_On,Active,PostalCode"
    out, report = rows(tmp_path, "5,1,$1.00,,,,yes,01234", header=header)
    assert report.missing_columns == [] and report.extra_columns == []
    assert out[0]["id"] == 5 and out[0]["postal_code"] == "01234"


def test_extra_columns_are_kept_as_text_in_file_order(tmp_path: Path) -> None:
    header = "Brand Region,Id,Amount,Notes,Id"
    table, report = read(write(tmp_path, header + "\nWest,1,$2.00,0042,99\n"))
    assert report.extra_columns == ["brand_region", "notes", "id_2"]
    assert table.schema.names[-3:] == ["brand_region", "notes", "id_2"]
    row = table.to_pylist()[0]
    assert row["brand_region"] == "West" and row["notes"] == "0042" and row["id_2"] == "99"
    assert row["id"] == 1 and row["amount"] == Decimal("2.00")


def test_missing_columns_are_null_and_reported(tmp_path: Path) -> None:
    table, report = read(write(tmp_path, "Id,Amount\n1,$2.00\n"))
    assert report.missing_columns == ["count", "quantity", "starts_at", "due_on", "active", "postal_code"]
    assert table.schema == arrow_schema(THINGS)
    assert table.to_pylist() == [{c.name: None for c in THINGS.columns} | {"id": 1, "amount": Decimal("2.00")}]


def test_header_without_id_column_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(CsvHeaderError, match="things download dl-1 has no 'id' column"):
        read(write(tmp_path, "Count,Amount\n1,$2.00\n"))


def test_real_kind_columns_and_types(tmp_path: Path) -> None:
    header = ",".join(c.header for c in CONTACTS.columns)
    values = {c.name: "" for c in CONTACTS.columns} | {
        "id": "1000000001",
        "organization_id": "17",
        "primary_phone": "0612 345 678",
        "postal_code": "02134",
        "customer_since": "3/4/2021",
        "lifetime_value": '"$12,345.67"',
        "do_not_email": "Yes",
        "created_at": "3/4/2021 9:15:00 AM",
    }
    table, report = read(write(tmp_path, header + "\n" + ",".join(values.values()) + "\n"), CONTACTS)
    assert report.rejected == [] and report.missing_columns == []
    row = table.to_pylist()[0]
    assert row["postal_code"] == "02134" and row["primary_phone"] == "0612 345 678"
    assert row["customer_since"] == date(2021, 3, 4) and row["lifetime_value"] == Decimal("12345.67")
    assert row["do_not_email"] is True and row["created_at"] == datetime(2021, 3, 4, 9, 15)


# --- rejected rows -----------------------------------------------------------------------------------------------


def test_wrong_field_count_is_rejected_with_physical_line_and_raw_text(tmp_path: Path) -> None:
    text = (
        HEADER + "\n"
        '1,,,,,,,"two\nlines"\n'  # lines 2-3
        "2,,,\n"  # line 4: too few
        "3,,,,,,,,extra\n"  # line 5: too many
        "4,,,,,,,\n"
    )
    table, report = read(write(tmp_path, text))
    assert table.column("id").to_pylist() == [1, 4]
    assert [(r.line_number, r.raw_line) for r in report.rejected] == [(4, "2,,,"), (5, "3,,,,,,,,extra")]
    assert report.rejected[0].reason == "the record has 4 fields, the header has 8"
    assert report.rejected[0].kind == "things" and report.rejected[0].download_id == "dl-1"
    assert report.rows == 2


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("starts_at", "13/45/2026", "column starts_at: '13/45/2026' is not a date-time"),
        ("starts_at", "2/30/2026 1:00:00 AM", "column starts_at: '2/30/2026 1:00:00 AM' is not a date-time"),
        ("starts_at", "8/26/26 10:00:00 AM", "column starts_at: '8/26/26 10:00:00 AM' is not a date-time"),
        ("starts_at", "2026-02-30 10:00:00", "column starts_at: '2026-02-30 10:00:00' is not a date-time"),
        ("starts_at", "8/26/2026 13:00:00 PM", "column starts_at: '8/26/2026 13:00:00 PM' is not a date-time"),
        ("starts_at", "2026-08-26T10:00:00Z", "column starts_at: '2026-08-26T10:00:00Z' is not a date-time"),
        ("due_on", "4/31/2026", "column due_on: '4/31/2026' is not a date"),
        ("due_on", "8/26/2026 10:00 AM", "column due_on: '8/26/2026 10:00 AM' is not a date (it has a time of day)"),
        ("amount", "$1.2.3", "column amount: '$1.2.3' is not a money amount"),
        ("amount", "12.345", "column amount: '12.345' has more than 2 decimal places"),
        ("amount", "-$-5", "column amount: '-$-5' is not a money amount"),
        ("amount", "1,23", "column amount: '1,23' is not a money amount"),
        ("amount", "1e-3", "column amount: '1e-3' has more than 2 decimal places"),
        ("amount", "1e999", "column amount: '1e999' is too large for DECIMAL(18,2)"),
        ("amount", "99999999999999999", "column amount: '99999999999999999' is too large for DECIMAL(18,2)"),
        ("quantity", "1.23456", "column quantity: '1.23456' has more than 4 decimal places"),
        ("active", "maybe", "column active: 'maybe' is not a yes/no value"),
        ("count", "12abc", "column count: '12abc' is not a whole number"),
        ("count", "9223372036854775808", "column count: '9223372036854775808' is out of range for a 64-bit integer"),
        ("id", "abc", "column id: 'abc' is not a whole number"),
    ],
)
def test_bad_values_are_rejected_with_column_and_value(tmp_path: Path, field: str, value: str, reason: str) -> None:
    names = [c.name for c in THINGS.columns]
    bad = [""] * len(names)
    bad[0], bad[names.index(field)] = "2", quote(value)
    lines = ["1,,,,,,,", ",".join(bad), "3,,,,,,,"]
    out, report = rows(tmp_path, *lines)
    assert [r["id"] for r in out] == [1, 3]
    assert [(r.line_number, r.raw_line, r.reason) for r in report.rejected] == [(3, lines[1], reason)]


def test_empty_id_is_rejected(tmp_path: Path) -> None:
    out, report = rows(tmp_path, "1,,,,,,,", ",5,,,,,,", "  ,5,,,,,,")
    assert [r["id"] for r in out] == [1]
    assert [(r.line_number, r.reason) for r in report.rejected] == [
        (3, "column id: is empty (every row needs an Id)"),
        (4, "column id: is empty (every row needs an Id)"),
    ]


def test_every_bad_column_is_named_and_raw_text_keeps_quotes_and_line_breaks(tmp_path: Path) -> None:
    text = HEADER + '\n1,,,,,,,\n2,x,,,,,maybe,"multi\r\nline, ""quoted"""\n'
    _, report = read(write(tmp_path, text, newline="\r\n"))
    (rejected,) = report.rejected
    assert rejected.line_number == 3
    assert rejected.raw_line == '2,x,,,,,maybe,"multi\r\nline, ""quoted"""'
    assert rejected.reason == "column count: 'x' is not a whole number; column active: 'maybe' is not a yes/no value"


def test_invalid_utf8_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    path.write_bytes(HEADER.encode() + b"\r\n1,,,,,,,ok\r\n2,,,,,,,bad\xff\r\n3,,,,,,,\r\n")
    table, report = read(path)
    assert table.column("id").to_pylist() == [1, 3]
    (rejected,) = report.rejected
    assert rejected.line_number == 3 and rejected.raw_line == "2,,,,,,,bad\ufffd"
    assert rejected.reason == "column postal_code: 'bad\ufffd' is not valid UTF-8 text"


def test_max_id_counts_rejected_rows_too(tmp_path: Path) -> None:
    _, report = rows(tmp_path, "5,,,,,,,", "9,,,,,,maybe,", "7,,,,,,,")
    assert report.max_id == 9 and report.rows == 2
    _, report = rows(tmp_path, "5,,,,,,,", "11,too,few", "7,,,,,,,")
    assert report.max_id == 11 and report.rows == 2


def test_a_file_of_only_bad_rows_yields_nothing_and_rejects_them_all(tmp_path: Path) -> None:
    # every record has one field too many: more blocks than the read-ahead allows must not stall the reader
    body = "".join(f"{i},,,,,,,,\n" for i in range(1, 2001))
    table, report = read(write(tmp_path, HEADER + "\n" + body), block_size=1024)
    assert table.num_rows == 0 and report.rows == 0
    assert len(report.rejected) == 2000 and report.rejected[-1].line_number == 2001
    assert report.max_id == 2000


# --- truncation --------------------------------------------------------------------------------------------------


def test_complete_files_are_not_truncated(tmp_path: Path) -> None:
    for i, text in enumerate(
        [
            HEADER + '\n1,,,,,,,"ends with a quoted\nline break"\n',
            HEADER + '\n1,,,,,,,"ends with a quote """\n',
            HEADER + "\n1,,,,,,,\n\n\n",
            HEADER + '\n1,,,,,,,12" pipe\n',  # a stray quote inside an unquoted field: odd number of quotes
        ]
    ):
        table, report = read(write(tmp_path, text, name=f"ok{i}.csv"))
        assert table.num_rows == 1 and report.rejected == [], text


@pytest.mark.parametrize(
    ("body", "what"),
    [
        ("1,,,,,,,\n2,,,$1.", "does not end with a line break"),
        ('1,,,,,,,\n2,,,,,,,"cut inside\n', "ends inside a quoted field"),
        ('1,,,,,,,\n2,,,,,,,"cut "" here', "does not end with a line break"),
        ('1,,,,,,,12" pipe\n2,,,,,,,"a stray quote above, then a cut\n', "ends inside a quoted field"),
        ("1,,,,,,,\n2,,,\n", "its last record has 4 of the header's 8 fields"),
        ('1,,,,,,,\n2,"multi\nline",\n', "its last record has 3 of the header's 8 fields"),
    ],
)
def test_truncation_is_detected_before_anything_is_yielded(tmp_path: Path, body: str, what: str) -> None:
    path = write(tmp_path, HEADER + "\n" + body)
    report = CsvReport()
    batches = read_csv_batches(path, THINGS, download_id="dl-7", report=report)
    with pytest.raises(TruncatedCsvError, match=f"things download dl-7 was cut off \\(.*{what}\\)"):
        next(batches)
    assert report.rows == 0


def test_a_header_cut_before_its_line_break_is_truncated(tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    path.write_bytes(b"Id,Count,Amo")
    with pytest.raises(TruncatedCsvError, match="does not end with a line break"):
        read(path)


@pytest.mark.parametrize("content", [b"", b"\xef\xbb\xbf", b"\r\n", (HEADER + "\r\n").encode(), b"Id\n\n"])
def test_empty_and_header_only_files_yield_nothing(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "f.csv"
    path.write_bytes(content)
    report = CsvReport()
    assert list(read_csv_batches(path, THINGS, download_id="dl-1", report=report)) == []
    assert report.rows == 0 and report.rejected == [] and report.max_id is None


# --- streaming ---------------------------------------------------------------------------------------------------


def generated_appointments(n: int, seed: int = 5) -> str:
    """An appointments-like CSV with every value format, quoting, line breaks and a few bad rows."""
    rnd = random.Random(seed)
    lines = [",".join(c.header for c in APPOINTMENTS.columns)]
    for i in range(1, n + 1):
        hour = rnd.randint(1, 12)
        when = f"{rnd.randint(1, 12)}/{rnd.randint(1, 28)}/2026 {hour}:{rnd.randint(0, 59):02d}:00 {rnd.choice('AP')}M"
        service = rnd.choice(["Windows", '"Gutters, front"', '"Say ""hi"""', '"two\r\nlines"'])
        money = f'"${rnd.randint(0, 99999):,}.{rnd.randint(0, 99):02d}"'
        status = "Canceled" if i % 7 == 0 else "Scheduled"
        fields = [str(1000 + i), str(rnd.randint(1, 9)), "Org", str(rnd.randint(1, 999)), service, "Ann", status]
        fields += [when, str(rnd.choice([30, 60])), "", when if status == "Canceled" else "", "", rnd.choice("YN")]
        fields += ["", money, "2026-01-02 03:04:05", when]
        if i % 97 == 0:
            fields[8] = "soon"  # bad int
        if i % 89 == 0:
            fields = fields[:5]  # wrong field count
        lines.append(",".join(fields))
    return "\r\n".join(lines) + "\r\n"


def test_many_small_blocks_give_the_same_result_as_one(tmp_path: Path) -> None:
    path = write(tmp_path, generated_appointments(3000))
    whole, whole_report = read(path, APPOINTMENTS, block_size=8 << 20)
    report = CsvReport()
    batches = list(read_csv_batches(path, APPOINTMENTS, download_id="dl-1", report=report, block_size=4096))
    assert len(batches) > 50
    assert pa.Table.from_batches(batches).equals(whole)
    assert report == whole_report
    assert whole_report.rows == whole.num_rows == 3000 - len(whole_report.rejected)
    assert len(whole_report.rejected) == 3000 // 89 + 3000 // 97 - 3000 // (89 * 97)
    assert whole_report.max_id == 4000
    lines = path.read_bytes().decode("utf-8").split("\r\n")
    for rejected in whole_report.rejected:  # the line number points at the raw record
        assert lines[rejected.line_number - 1] == rejected.raw_line.split("\r\n")[0]


def test_a_column_is_converted_once_per_distinct_value_only_while_it_repeats(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(csv_arrow, "_MOST_DISTINCT", REAL_MOST_DISTINCT)
    # 400 amounts that never repeat, then three that do, one of them bad
    amounts = [f"${i:,}.{i % 100:02d}" for i in range(1, 401)] + [
        ("$12.50", "$99", "12.5.0")[i % 3] for i in range(9600)
    ]
    path = write(tmp_path, HEADER + "\n" + "".join(f"{i},,{quote(a)},,,,,\n" for i, a in enumerate(amounts, 1)))
    converted: list[int] = []  # how many amounts each conversion was given
    real = csv_arrow._Converter._convert_values

    def counted(self, text: pa.Array, name: str, problems: dict) -> pa.Array:
        if name == "amount":
            converted.append(len(text))
        return real(self, text, name, problems)

    monkeypatch.setattr(csv_arrow._Converter, "_convert_values", counted)
    table, report = read(path, block_size=4096)
    assert sum(converted) < len(amounts) / 2, "the repeating part is converted once per distinct value"
    assert max(converted) > 3, "the part that does not repeat is converted value by value"

    monkeypatch.setattr(csv_arrow, "_MOST_DISTINCT", -1.0)
    by_value, by_value_report = read(path, block_size=4096)
    assert table.equals(by_value) and report == by_value_report
    assert len(report.rejected) == 3200
    # record 401 + i is on line 402 + i, and the bad amount is every third from i = 2
    assert {(r.reason, r.line_number % 3) for r in report.rejected} == {
        ("column amount: '12.5.0' is not a money amount", 2)
    }
    assert table.column("amount").to_pylist()[400:402] == [Decimal("12.50"), Decimal("99.00")]


@pytest.mark.parametrize("close", [True, False])
def test_a_consumer_that_stops_early_exits_cleanly(tmp_path: Path, close: bool) -> None:
    """Arrow's reader thread calls back into Python; stopped early (or left open until exit) it must be done with
    that before the interpreter shuts down, or CPython aborts at exit."""
    path = write(tmp_path, generated_appointments(20000))
    script = textwrap.dedent(
        f"""
        from pathlib import Path
        from pipelines.serviceminder.csv_arrow import CsvReport, read_csv_batches
        from pipelines.serviceminder.kinds import APPOINTMENTS
        batches = read_csv_batches(Path({str(path)!r}), APPOINTMENTS, download_id="d", report=CsvReport(),
                                   block_size=65536)
        next(batches)
        if {close}:
            batches.close()
        print("ok")
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout.strip()) == (0, "ok"), done.stderr


def test_good_rows_then_many_blocks_of_bad_rows_do_not_stall_the_read_ahead(tmp_path: Path) -> None:
    body = "1,,,,,,,\n" + "".join(f"{i},,,,,,,,\n" for i in range(2, 2001)) + "2001,,,,,,,\n"
    table, report = read(write(tmp_path, HEADER + "\n" + body), block_size=1024)
    assert table.column("id").to_pylist() == [1, 2001]
    assert len(report.rejected) == 1999


# --- failure paths -----------------------------------------------------------------------------------------------


def test_a_record_larger_than_a_block_is_a_clear_error(tmp_path: Path) -> None:
    short = "".join(f"{i},,,,,,,short\n" for i in range(1, 100))
    path = write(tmp_path, HEADER + "\n" + short + "100,,,,,,," + "x" * 5000 + "\n")
    with pytest.raises(ValueError, match="things download dl-1 is not a readable CSV file .*raise block_size"):
        read(path, block_size=1024)


def test_a_header_larger_than_a_block_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="things download dl-1 is not a readable CSV file"):
        read(write(tmp_path, HEADER + "\n1,,,,,,,\n"), block_size=16)


def test_rows_are_kept_when_the_line_locator_disagrees_with_arrow(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(csv_arrow._Locator, "good_record", lambda self, ordinal: None)
    monkeypatch.setattr(csv_arrow._Locator, "finish", lambda self: [])
    table, report = read(write(tmp_path, HEADER + '\n1,,,,,,,\n2,,,,,,maybe,"a ""b"", c"\n3,too,few\n4,,,,,,,\n'))
    assert table.column("id").to_pylist() == [1, 4]
    assert [(r.line_number, r.raw_line, r.reason) for r in report.rejected] == [
        (0, '2,,,,,,maybe,"a ""b"", c"', "column active: 'maybe' is not a yes/no value"),
        (0, "3,too,few", "the record has 3 fields, the header has 8 (line not found)"),
    ]
    assert report.max_id == 4


def test_clean_values_never_take_the_per_value_path(tmp_path: Path, monkeypatch) -> None:
    """The vectorized path must handle every usual format itself (a slip here costs 5x in speed, not correctness)."""

    def not_here(value: str) -> None:
        raise AssertionError(f"{value!r} went through per-value Python")

    for ctype in ("id", "int", "money", "decimal", "timestamp", "date", "bool"):
        monkeypatch.setitem(csv_arrow._SLOW, ctype, not_here)
    # every day of the month, so the roll-over check (days 1-3) is exercised
    column(tmp_path, "starts_at", [f"8/{d}/2026 {d % 12 + 1}:05:00 PM" for d in range(1, 32)])
    column(tmp_path, "starts_at", [f"2026-08-{d:02d} 10:00:00" for d in range(1, 32)])
    column(tmp_path, "starts_at", [f"2026-08-{d:02d}T10:00:00" for d in range(1, 32)] + ["2026-08-26"])
    column(tmp_path, "due_on", [f"1/{d}/2026" for d in range(1, 32)])
    column(tmp_path, "due_on", [f"2026-01-{d:02d}" for d in range(1, 32)])
    column(tmp_path, "amount", ["$1,234.50", "-$5.00", "$-5.00", "(1,234.50)", "12", "$0.5"])
    column(tmp_path, "amount", ["1234.50", "-5", "0.1"])
    column(tmp_path, "quantity", ["1.5", "-2", "0.0001"])
    column(tmp_path, "count", ["1", "-20", "0012"])
    column(tmp_path, "active", ["Yes", "no", "TRUE", "false", "1", "0", "Y", "n"])
