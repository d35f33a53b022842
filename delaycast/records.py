"""Validation of single records in pure Python: the per-request twin of `delaycast.schema.coerce_frame`.

A few records are validated faster one by one than through pandas. Both paths
accept the same values and raise the same RowError messages (a test holds
them to it); `coerce_frame` remains the path for large batches.
`plain_csv_record` and `plain_json_record` read and validate the commonest
single-record bodies, one plainly written CSV line or JSON object, in C
(`delaycast._native_records`); anything else goes the general way.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from delaycast.fields import FIELDS, Field
from delaycast.schema import CODE_PATTERNS, RowError, parse_date, shown

if TYPE_CHECKING:
    from delaycast._native_records import PlainRecordReader

Value = str | int | float | dt.date | None
Record = tuple[Value, ...]
_EXAMPLES = {"carrier": "UA", "airport": "JFK"}


def validate_record(values: Sequence[object], row: int) -> Record:
    """One record's raw values, in FIELDS order (None where absent), typed and checked."""
    return tuple([check(value, spec, row) for value, (check, spec) in zip(values, _CHECKS, strict=True)])


def _measure(value: object, spec: Field, row: int) -> Value:
    number = _number(value, spec, row)
    if number is None:
        return None
    if spec.kind == "hhmm":
        _check_hhmm(number, spec, row)
    _check_range(number, spec, row)
    return int(number) if spec.kind in ("int", "hhmm") else number


def _absent(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or value == ""


def _code(value: object, spec: Field, row: int) -> str:
    if _absent(value):
        raise RowError(row, spec.name, "a value is required")
    code = str(value).strip().upper()
    if not CODE_PATTERNS[spec.kind].fullmatch(code):
        raise RowError(row, spec.name, f"{shown(value)} is not an IATA code like {_EXAMPLES[spec.kind]}")
    return code


def _date(value: object, spec: Field, row: int) -> dt.date:
    if _absent(value):
        raise RowError(row, spec.name, "a value is required")
    day = parse_date(str(value))
    if day is None:
        raise RowError(row, spec.name, f"{shown(value)} is not a date YYYY-MM-DD")
    return day


def _number(value: object, spec: Field, row: int) -> float | None:
    if isinstance(value, str):
        number = _parse_number(value, spec, row)
    elif isinstance(value, bool):
        raise RowError(row, spec.name, f"{shown(value)} is not a number")
    elif isinstance(value, int | float):
        number = float(value)
    else:
        number = math.nan if _absent(value) else _parse_number(str(value), spec, row)
    if math.isnan(number):
        if spec.required:
            raise RowError(row, spec.name, "a value is required")
        return None
    if math.isinf(number):
        raise RowError(row, spec.name, "must be a finite number")
    if spec.kind in ("int", "hhmm") and number != math.floor(number):
        raise RowError(row, spec.name, "must be a whole number")
    return number


def _parse_number(text: str, spec: Field, row: int) -> float:
    """A number written as text; empty or blank text is absent (NaN), anything else unparsed is an error."""
    try:
        number = float(text)  # float() itself ignores surrounding whitespace
    except ValueError:
        if not text.strip():
            return math.nan
        number = math.nan
    if math.isnan(number):
        raise RowError(row, spec.name, f"{shown(text)} is not a number")
    return number


def _check_range(number: float, spec: Field, row: int) -> None:
    if spec.low is None or spec.high is None:
        return
    if number < spec.low or number > spec.high:
        raise RowError(row, spec.name, f"{number:g} is outside {spec.low:g}..{spec.high:g}")


def _check_hhmm(number: float, spec: Field, row: int) -> None:
    hours, minutes = number // 100, number % 100
    if number < 0 or hours > 24 or minutes > 59 or (hours == 24 and minutes > 0):
        raise RowError(row, spec.name, f"{number:g} is not a time HHMM (0000..2400)")


_CHECKS: tuple[tuple[Callable[[object, Field, int], Value], Field], ...] = tuple(
    (_code if spec.kind in CODE_PATTERNS else _date if spec.kind == "date" else _measure, spec) for spec in FIELDS
)


def plain_csv_record(line: bytes) -> Record | None:
    """The record of one header-less CSV line of plain cells in FIELDS order, as `validate_record` gives it.

    None for anything else (more lines, quotes, blanks, lower case, signs, a value out of range...), and
    for everything when the C reader is not built: the general path then reads the body and names what
    is wrong.
    """
    return None if _PLAIN_READER is None else _PLAIN_READER.csv_line(line)


def plain_json_record(document: dict[str, Any]) -> Record | None:
    """The record of a JSON object of FIELDS names and plain values, as `validate_record` gives it.

    Plain values: upper-case codes and YYYY-MM-DD dates as strings, numbers as JSON numbers (whole ones
    for whole fields), null for an absent optional field. None for anything else, as `plain_csv_record`.
    """
    return None if _PLAIN_READER is None else _PLAIN_READER.json_object(document)


def _plain_reader() -> PlainRecordReader | None:
    try:
        from delaycast._native_records import PlainRecordReader
    except ImportError:  # not built (container/build-native): every record takes the general path
        return None
    return PlainRecordReader(FIELDS)


_PLAIN_READER = _plain_reader()
