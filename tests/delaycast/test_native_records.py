"""The C reader of plain records gives exactly what `validate_record` gives, or leaves the record to it."""

from __future__ import annotations

import datetime as dt
import math
import re
import sys
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import delaycast.records
from delaycast._native_records import PlainRecordReader
from delaycast.fields import FIELD_NAMES, FIELDS, REQUIRED_FIELDS, Field
from delaycast.records import Record, RecordError, plain_csv_record, plain_json_record, validate_record

PROPERTIES = settings(max_examples=1000, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
# The plain form of each kind of cell, as the reader's documentation states it (the test's oracle).
PLAIN_CELLS = {
    "carrier": r"[A-Z0-9]{2}",
    "airport": r"[A-Z]{3}",
    "date": r"[0-9]{4}-[0-9]{2}-[0-9]{2}",
    "int": r"[0-9]{1,9}",
    "hhmm": r"[0-9]{1,4}",
    "float": r"[0-9]{1,9}(\.[0-9]{1,17})?",
}
# Near misses of every kind: signs, blanks, exponents, lower case, other separators, non-ASCII digits.
ODD_CELLS = st.text(alphabet="0123456789AZaz.-+e :T\t\"'\u0663\u00e9", max_size=12)
DAY = dt.date(2013, 11, 5)
LINE_ENDS = st.sampled_from(("", "\n", "\r\n", "\r", "\n\n", "\n\r", " ", ","))


def typed(record: Record | None) -> list[tuple[type, Any]] | None:
    """A record's values with their types: 1400 and 1400.0 differ here."""
    return None if record is None else [(type(value), value) for value in record]


def validated(values: list[Any]) -> Record | None:
    """What the Python validator makes of raw values in FIELDS order; None when it refuses them."""
    try:
        return validate_record(values, 0)
    except RecordError:
        return None


def plain_value(spec: Field) -> st.SearchStrategy[Any]:
    """A value the field accepts, of its plain JSON type: text for codes and dates, numbers for the rest."""
    if spec.kind == "date":
        leap_days = st.integers(1, 9999).map(lambda year: f"{year:04d}-02-29")
        return st.dates().map(dt.date.isoformat) | leap_days
    if spec.kind in ("carrier", "airport"):
        return st.from_regex(f"\\A{PLAIN_CELLS[spec.kind]}\\Z")
    if spec.kind == "hhmm":
        return st.builds(lambda hours, minutes: hours * 100 + minutes, st.integers(0, 23), st.integers(0, 59))
    low, high = spec.low or 0, spec.high or 2400
    whole = st.integers(math.ceil(low), math.floor(high))
    return whole | st.floats(low, high) if spec.kind == "float" else whole


def plain_cell(spec: Field) -> st.SearchStrategy[str]:
    """A cell of the field's plain form: the text of a value it accepts (zero-padded, or with decimals, at
    random), or any text of the plain form."""
    cells = st.from_regex(f"\\A{PLAIN_CELLS[spec.kind]}\\Z")
    if spec.kind in ("int", "hhmm"):
        return mostly(st.builds("{:0{}d}".format, plain_value(spec), st.integers(0, 4)), cells)
    if spec.kind == "float":
        return mostly(st.builds("{:.{}f}".format, plain_value(spec), st.integers(0, 17)), cells)
    return mostly(plain_value(spec), cells)


def mostly(plain: st.SearchStrategy[Any], other: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Nine draws in ten from `plain`, so that whole records of plain values are common."""
    return st.sampled_from((plain,) * 9 + (other,)).flatmap(lambda strategy: strategy)


@st.composite
def csv_cells(draw: st.DrawFn) -> list[str]:
    """Cells for some leading fields: plain, empty or near misses, each by chance."""
    count = draw(st.integers(len(REQUIRED_FIELDS) - 1, len(FIELDS)))
    return [draw(mostly(plain_cell(spec), st.just("") | ODD_CELLS)) for spec in FIELDS[:count]]


@PROPERTIES
@given(cells=csv_cells(), line_end=LINE_ENDS)
def test_a_csv_line_reads_as_the_validator_reads_its_cells(cells: list[str], line_end: str) -> None:
    line = ",".join(cells) + line_end
    record = plain_csv_record(line.encode())
    general = validated([cell or None for cell in cells] + [None] * (len(FIELDS) - len(cells)))
    if record is not None:
        assert typed(record) == typed(general)
    kinds = [spec.kind for spec in FIELDS[: len(cells)]]
    plain = all(cell == "" or re.fullmatch(PLAIN_CELLS[kind], cell) for cell, kind in zip(cells, kinds, strict=True))
    if plain and line_end in ("", "\n", "\r\n", "\r") and general is not None:
        assert record is not None, "a plain line the validator accepts must be read"


JSON_VALUES = (
    st.none()
    | st.booleans()
    | st.integers(-10, 12_000)
    | st.integers()
    | st.floats()
    | st.floats(0, 1)
    | st.from_regex(r"\A[0-9]{1,4}\Z")
    | ODD_CELLS
    | st.lists(st.integers(), max_size=1)
)


@st.composite
def json_documents(draw: st.DrawFn) -> dict[str, Any]:
    """Objects of most fields, each value plain for its field or anything JSON holds, maybe another key."""
    document = {}
    for spec in FIELDS:
        if draw(mostly(st.just(True), st.just(False))):
            document[spec.name] = draw(mostly(plain_value(spec), JSON_VALUES))
    if draw(st.booleans()):
        document[draw(st.sampled_from(("FL_DATE", "instances", "Carrier", "extra")))] = draw(JSON_VALUES)
    return document


def plain_json_value(spec: Field, value: Any) -> bool:
    """Whether a JSON value has its field's plain form (the reader's documented contract)."""
    if value is None:
        return True
    if spec.kind in ("carrier", "airport", "date"):
        return isinstance(value, str) and re.fullmatch(PLAIN_CELLS[spec.kind], value) is not None
    if spec.kind == "float":
        return type(value) in (int, float)
    return type(value) is int


@PROPERTIES
@given(document=json_documents())
def test_a_json_object_reads_as_the_validator_reads_its_values(document: dict[str, Any]) -> None:
    record = plain_json_record(document)
    general = validated([document.get(name) for name in FIELD_NAMES])
    if set(document) - set(FIELD_NAMES):
        assert record is None, "other keys take the general path, which names or maps them"
        return
    if record is not None:
        assert typed(record) == typed(general)
    if all(plain_json_value(spec, document.get(spec.name)) for spec in FIELDS) and general is not None:
        assert record is not None, "a plain object the validator accepts must be read"


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (
            b"UA,1545,EWR,IAH,2013-11-05,0515,0819,1400\n",
            ("UA", 1545, "EWR", "IAH", DAY, 515, 819, 1400.0, None, None, None),
        ),
        (
            b"9E,1,JFK,LAX,2024-02-29,2400",
            ("9E", 1, "JFK", "LAX", dt.date(2024, 2, 29), 2400, None, None, None, None, None),
        ),
        (b"B6,9999,EWR,IAH,2013-11-05,0,,,0.25\r\n", ("B6", 9999, "EWR", "IAH", DAY, 0, None, None, 0.25, None, None)),
        (b"UA,1545,EWR,IAH,2013-11-05,0515,\r", ("UA", 1545, "EWR", "IAH", DAY, 515, None, None, None, None, None)),
        (
            b"UA,1545,EWR,IAH,2000-02-29,0515",
            ("UA", 1545, "EWR", "IAH", dt.date(2000, 2, 29), 515, None, None, None, None, None),
        ),
    ],
)
def test_plain_lines_give_their_typed_record(line: bytes, expected: Record) -> None:
    assert typed(plain_csv_record(line)) == typed(expected)


@pytest.mark.parametrize(
    "line",
    [
        b"ua,1545,EWR,IAH,2013-11-05,0515",  # lower case: the general path upper-cases it
        b"UA, 1545,EWR,IAH,2013-11-05,0515",  # a blank
        b"UA,1545,EWR,IAH,2013-11-05",  # a required field missing
        b"UA,1545,EWR,IAH,2013-11-05,0515\n\n",  # a blank line
        b"UA,0,EWR,IAH,2013-11-05,0515",  # out of range
        b"UA,1545,EWR,IAH,2013-02-30,0515",  # no such day
        b"UA,1545,EWR,IAH,0000-01-01,0515",  # no year 0
        b"UA,1545,EWR,IAH,1900-02-29,0515",  # not a leap year
        b"UA,1545,EWR,IAH,2013-11-05,0560",  # no such minute
        b"UA,1545,EWR,IAH,2013-11-05,2401",  # past midnight
        b"UA,1545,EWR,IAH,2013-11-05,0515,0819,1400.",  # a point without digits
        b"UA,1545,EWR,IAH,2013-11-05,0515,0819,1400,0.5,extra",
        b"\xef\xbb\xbfUA,1545,EWR,IAH,2013-11-05,0515",  # a byte-order mark
    ],
)
def test_anything_else_is_left_to_the_general_path(line: bytes) -> None:
    assert plain_csv_record(line) is None


PLAIN_OBJECT = {"carrier": "UA", "flight_number": 1545, "origin": "EWR", "dest": "IAH", "flight_date": "2013-11-05"}


@pytest.mark.parametrize(
    "change",
    [
        {"distance": True},  # JSON true is no number
        {"flight_number": 1545.0},  # a float for a whole field: the general path reads it
        {"crs_dep_time": "0515"},  # a number as text
        {"crs_dep_time": None},  # a required field null
        {"origin_delay_rate_prev_day": 1.5},  # out of range
        {"distance": 2**64},  # beyond 64 bits
        {"carrier": "ua"},  # lower case
        {"origin": "ÉWR"},  # not ASCII
        {"FL_DATE": "2013-11-05"},  # another name for a field
    ],
)
def test_other_json_values_are_left_to_the_general_path(change: dict[str, Any]) -> None:
    assert plain_json_record({**PLAIN_OBJECT, "crs_dep_time": 515, **change}) is None


def test_a_field_of_a_kind_it_cannot_read_leaves_every_record_to_the_python_path() -> None:
    reader = PlainRecordReader([*FIELDS, Field("colour", "colour", False, "")])
    assert reader.csv_line(b"UA,1545,EWR,IAH,2013-11-05,0515,0819,1400,0.5,red") is None
    assert reader.json_object({"carrier": "UA"}) is None
    with pytest.raises(ValueError, match="17 fields"):
        PlainRecordReader([FIELDS[0]] * 17)


@pytest.fixture
def reader_not_built(monkeypatch: pytest.MonkeyPatch) -> None:
    """delaycast.records as where the extension was never built (no reload: its error classes stay the same)."""
    monkeypatch.setitem(sys.modules, "delaycast._native_records", None)
    reader = delaycast.records._plain_reader()
    assert reader is None
    monkeypatch.setattr(delaycast.records, "_PLAIN_READER", reader)


@pytest.mark.usefixtures("reader_not_built")
def test_without_the_built_reader_every_record_takes_the_general_path() -> None:
    assert delaycast.records.plain_csv_record(b"UA,1545,EWR,IAH,2013-11-05,0515") is None
    assert delaycast.records.plain_json_record({"carrier": "UA"}) is None
