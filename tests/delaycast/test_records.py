"""The per-record validator accepts and refuses exactly what the vectorised one does."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from delaycast.fields import FIELD_NAMES
from delaycast.records import validate_record
from delaycast.schema import RowError, coerce_frame

GOOD: dict[str, object] = {
    "carrier": " ua",
    "flight_number": "1545",
    "origin": "ewr",
    "dest": "IAH",
    "flight_date": "2013-11-05",
    "crs_dep_time": "0515",
    "crs_arr_time": "",
    "distance": 1400,
    "origin_delay_rate_prev_day": None,
}
CHANGES = [
    {"carrier": "UAL"},
    {"carrier": ""},
    {"origin": "JF"},
    {"dest": None},
    {"flight_date": "2013-02-30"},
    {"flight_date": "yesterday"},
    {"crs_dep_time": "2460"},
    {"crs_dep_time": "7:15"},
    {"crs_dep_time": "2400"},
    {"crs_dep_time": -5},
    {"flight_number": "0"},
    {"flight_number": "12.5"},
    {"flight_number": 1e4},
    {"distance": "inf"},
    {"distance": "nan"},
    {"distance": " 12 "},
    {"origin_delay_rate_prev_day": "1.5"},
    {"origin_delay_rate_prev_day": 0.5},
    {"crs_arr_time": "1e3"},
    {"crs_arr_time": 2359.0},
]


def vectorised(record: dict[str, object]) -> tuple[str, str] | None:
    try:
        coerce_frame(pd.DataFrame([record], dtype=object))
    except RowError as error:
        return error.column, error.reason
    return None


def per_record(record: dict[str, object]) -> tuple[str, str] | None:
    try:
        validate_record([record[name] for name in FIELD_NAMES], 0)
    except RowError as error:
        return error.column, error.reason
    return None


@pytest.mark.parametrize("change", CHANGES)
def test_same_verdict_and_message_as_the_vectorised_validator(change: dict[str, object]) -> None:
    record = {**GOOD, **change}
    assert per_record(record) == vectorised(record)


def test_values_are_typed_and_normalised() -> None:
    assert validate_record([GOOD[name] for name in FIELD_NAMES], 0) == (
        "UA",
        1545,
        "EWR",
        "IAH",
        dt.date(2013, 11, 5),
        515,
        None,
        1400.0,
        None,
    )
