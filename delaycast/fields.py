"""The canonical flight record: its fields and the one grammar of each field's values. Pure Python.

Every path that reads a record uses `Field.parse`: the Lambda (which ships this
file and has no pandas), the server's single-record path, and the vectorised
bulk validator (`delaycast.schema`, which applies `Field.parse` once per
distinct value). The C reader of plain records (`delaycast._native_records`)
reads a subset of the same grammar and is held to it by property tests.

The grammar, by kind (text is stripped of surrounding ASCII blanks first; empty text,
None and NaN are absent):
- carrier, airport: ASCII text, case-insensitive, `[A-Z0-9]{2}` / `[A-Z]{3}`; non-ASCII text is refused
  before any change of case.
- date: `YYYY-MM-DD`, a real calendar day (also a `datetime.date` from a typed frame).
- int: ASCII digits `[0-9]+`, or a whole number; no sign, exponent, underscore or other digits.
- hhmm: `HHMM` as 1 to 4 ASCII digits, or `H:MM` / `HH:MM`, or a whole number; 0000..2400, minutes 00..59.
- float: a decimal in ASCII, `-?[0-9]+(.[0-9]*)?`, `.5`, with an optional exponent `e-07` (as CSV writers
  write small numbers), or a finite number; not `inf`, `nan`, `+5` or `1_000`.

To add a field: append a `Field` to FIELDS (an existing kind gives it its grammar, its C reading and its
canonical text); a new kind needs its parser in `_PARSERS` and its text in `_TEXTS` (the C reader leaves
every record to the Python path while it does not read the kind). docs/record.md says more.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Value = str | int | float | dt.date | None
BLANKS = " \t\r\n\f\v"
_CODE = {"carrier": re.compile(r"[A-Z0-9]{2}"), "airport": re.compile(r"[A-Z]{3}")}
_CODE_EXAMPLE = {"carrier": "an IATA carrier code like UA", "airport": "an IATA airport code like JFK"}
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_DIGITS = re.compile(r"[0-9]+")
_CLOCK = re.compile(r"([0-9]{1,2}):([0-9]{2})|[0-9]{1,4}")
_DECIMAL = re.compile(r"-?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][-+]?[0-9]+)?")
_JSON_TYPES = {dict: "object", list: "array", bool: "boolean", str: "string", int: "number", float: "number"}


class BadValue(Exception):
    """A value that does not fit its field; `reason` quotes what was sent."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Field:
    """One input field of the model."""

    name: str
    kind: str  # carrier | airport | int | date | hhmm | float
    required: bool
    description: str
    low: float | None = None
    high: float | None = None

    def parse(self, value: object) -> Value:
        """The typed value of a raw value (text, a JSON scalar, a number or a date); None when absent.

        Raises BadValue naming what is wrong, "a value is required" for an absent required value.
        """
        if is_absent(value):
            if self.required:
                raise BadValue("a value is required")
            return None
        if isinstance(value, str):
            value = value.strip(BLANKS)
        elif isinstance(value, bool) or not isinstance(value, int | float | dt.date):
            raise BadValue(f"expected a string or number, got JSON {json_type(value)}")
        typed = _PARSERS[self.kind](value, self)
        if isinstance(typed, int | float) and not self._in_range(typed):
            raise BadValue(f"{shown(value)} is outside {self.low:g}..{self.high:g}")
        return typed

    def text(self, value: Value) -> str:
        """A typed value as the canonical CSV cell that parses back to it ("" when absent)."""
        return "" if value is None else _TEXTS[self.kind](value)

    def _in_range(self, number: float) -> bool:
        return (self.low is None or number >= self.low) and (self.high is None or number <= self.high)

    def as_manifest(self) -> dict[str, Any]:
        """The field as written into the model manifest."""
        spec: dict[str, Any] = {
            "name": self.name,
            "type": self.kind,
            "required": self.required,
            "description": self.description,
        }
        if self.low is not None:
            spec["minimum"] = self.low
        if self.high is not None:
            spec["maximum"] = self.high
        return spec


def is_absent(value: object) -> bool:
    """None, NaN, and empty or blank text stand for a value not given."""
    if value is None:
        return True
    if isinstance(value, float):
        return math.isnan(value)
    return isinstance(value, str) and not value.strip(BLANKS)


def _code(value: str | float | dt.date, spec: Field) -> str:
    if isinstance(value, str) and value.isascii() and _CODE[spec.kind].fullmatch(value.upper()):
        return value.upper()
    raise BadValue(f"{shown(value)} is not {_CODE_EXAMPLE[spec.kind]}")


def _date(value: str | float | dt.date, spec: Field) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str) and _DATE.fullmatch(value):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            pass
    raise BadValue(f"{shown(value)} is not a date YYYY-MM-DD")


def _whole(value: str | float | dt.date, spec: Field) -> int:
    if isinstance(value, str):
        if _DIGITS.fullmatch(value):
            return int(value)
    elif isinstance(value, int | float) and not isinstance(value, dt.date) and _is_whole(value):
        return int(value)
    raise BadValue(f"{shown(value)} is not a whole number")


def _hhmm(value: str | float | dt.date, spec: Field) -> int:
    number: float | None = None
    if isinstance(value, str):
        match = _CLOCK.fullmatch(value)
        if match:
            number = int(match[1]) * 100 + int(match[2]) if match[1] else int(value)
    elif isinstance(value, int | float) and not isinstance(value, dt.date) and _is_whole(value):
        number = value
    if number is None or not is_hhmm(number):
        raise BadValue(f"{shown(value)} is not a time HHMM or HH:MM (0000 to 2400)")
    return int(number)


def is_hhmm(number: float) -> bool:
    """0000..2400 with minutes 00..59."""
    return 0 <= number <= 2400 and number % 100 <= 59


def _decimal(value: str | float | dt.date, spec: Field) -> float:
    if isinstance(value, str):
        if _DECIMAL.fullmatch(value) and math.isfinite(number := float(value)):
            return number
    elif isinstance(value, int | float) and not isinstance(value, dt.date) and _is_finite(value):
        return float(value)
    raise BadValue(f"{shown(value)} is not a number")


def _is_finite(number: float) -> bool:
    try:
        return math.isfinite(number)
    except OverflowError:  # an int beyond float range
        return False


def _is_whole(number: float) -> bool:
    return isinstance(number, int) or (math.isfinite(number) and number.is_integer())


_PARSERS: dict[str, Callable[[Any, Field], Value]] = {
    "carrier": _code,
    "airport": _code,
    "date": _date,
    "int": _whole,
    "hhmm": _hhmm,
    "float": _decimal,
}
_TEXTS: dict[str, Callable[[Any], str]] = {
    "carrier": str,
    "airport": str,
    "date": dt.date.isoformat,
    "int": str,
    "hhmm": lambda hhmm: f"{hhmm:04d}",
    "float": repr,
}


def shown(value: object) -> str:
    """A value as quoted in a message: text in quotes, numbers as sent (whole floats without .0), cut to 40."""
    if isinstance(value, float) and _is_whole(value):
        text = str(int(value))
    elif isinstance(value, str | dt.date):
        text = repr(str(value))
    else:
        text = repr(value)
    if len(text) <= 40:
        return text
    return text[:36] + ("...'" if text.endswith("'") else "...")


def json_type(value: object) -> str:
    """The JSON name of a decoded value's type."""
    return "null" if value is None else _JSON_TYPES.get(type(value), type(value).__name__)


FIELDS: tuple[Field, ...] = (
    Field("carrier", "carrier", True, "marketing/reporting carrier IATA code, e.g. UA"),
    Field("flight_number", "int", True, "flight number", 1, 9999),
    Field("origin", "airport", True, "origin airport IATA code, e.g. JFK"),
    Field("dest", "airport", True, "destination airport IATA code, e.g. LAX"),
    Field("flight_date", "date", True, "scheduled departure date, YYYY-MM-DD"),
    Field("crs_dep_time", "hhmm", True, "scheduled local departure time, HHMM or HH:MM"),
    Field("crs_arr_time", "hhmm", False, "scheduled local arrival time, HHMM or HH:MM"),
    Field("distance", "float", False, "great-circle distance in miles; filled from the route if absent", 1, 10000),
    Field(
        "origin_delay_rate_prev_day",
        "float",
        False,
        "share of the origin's departures of the day before known 15+ min late at the prediction; context",
        0,
        1,
    ),
    Field(
        "origin_delay_rate_today",
        "float",
        False,
        "share of the origin's departures of the flight's day known 15+ min late at the prediction; context",
        0,
        1,
    ),
    Field("minutes_to_departure", "float", False, "minutes from the prediction to the scheduled departure", 0, 10080),
)
FIELD_NAMES: tuple[str, ...] = tuple(f.name for f in FIELDS)
REQUIRED_FIELDS: tuple[str, ...] = tuple(f.name for f in FIELDS if f.required)
FIELDS_BY_NAME: dict[str, Field] = {f.name: f for f in FIELDS}

# Column names of the public on-time data sets that map one to one onto a field.
KAGGLE_COLUMNS: dict[str, str] = {
    "FL_DATE": "flight_date",
    "OP_CARRIER": "carrier",
    "OP_CARRIER_FL_NUM": "flight_number",
    "ORIGIN": "origin",
    "DEST": "dest",
    "CRS_DEP_TIME": "crs_dep_time",
    "CRS_ARR_TIME": "crs_arr_time",
    "DISTANCE": "distance",
}
BTS_COLUMNS: dict[str, str] = {
    "FlightDate": "flight_date",
    "Reporting_Airline": "carrier",
    "Flight_Number_Reporting_Airline": "flight_number",
    "Origin": "origin",
    "Dest": "dest",
    "CRSDepTime": "crs_dep_time",
    "CRSArrTime": "crs_arr_time",
    "Distance": "distance",
}
# Any header a caller may send: our field names, or Kaggle's or BTS's columns.
COLUMN_ALIASES: dict[str, str] = {**{n: n for n in FIELD_NAMES}, **KAGGLE_COLUMNS, **BTS_COLUMNS}
