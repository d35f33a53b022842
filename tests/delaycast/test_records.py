"""The reference validator, and the bulk validator held to it: same verdicts, typed values and messages."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from delaycast.errors import InvalidInput
from delaycast.fields import FIELD_NAMES, BadValue
from delaycast.records import (
    Record,
    RecordError,
    check_width,
    field_positions,
    record_values,
    validate_record,
)
from delaycast.schema import coerce_frame
from tests.delaycast.test_fields import ACCEPTED, REFUSED

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
    "origin_delay_rate_today": "",
    "minutes_to_departure": 120,
}
PROPERTIES = settings(max_examples=400, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
# Values every field may be sent: the grammar's own cases, plus anything JSON or a CSV cell can hold.
SAMPLES = sorted({repr(value): value for _, value, *_ in ACCEPTED + REFUSED}.items())
VALUES = (
    st.sampled_from([value for _, value in SAMPLES])
    | st.none()
    | st.booleans()
    | st.integers(-10, 3000)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(alphabet="0123456789:-. aAuUeEjJfFkK", max_size=11)
)


def mostly(valid: st.SearchStrategy[Any], other: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Nineteen draws in twenty from `valid`."""
    return st.sampled_from((valid,) * 19 + (other,)).flatmap(lambda strategy: strategy)


# Values each field accepts, so that whole records pass often enough to compare typed values.
VALID = {
    "carrier": st.sampled_from(["UA", " ua", "B6", "9E"]),
    "flight_number": st.integers(1, 9999) | st.integers(1, 9999).map(str),
    "origin": st.sampled_from(["EWR", "jfk"]),
    "dest": st.sampled_from(["IAH", "LAX"]),
    "flight_date": st.dates().map(dt.date.isoformat),
    "crs_dep_time": st.integers(0, 23).map(lambda hour: f"{hour}:30") | st.sampled_from([515, "0515", 2400]),
    "crs_arr_time": st.none() | st.sampled_from(["0819", 819, ""]),
    "distance": st.none() | st.floats(1, 10000) | st.floats(1, 10000).map(repr),
    "origin_delay_rate_prev_day": st.none() | st.floats(0, 1) | st.floats(0, 1).map(repr),
    "origin_delay_rate_today": st.none() | st.floats(0, 1) | st.floats(0, 1).map(repr),
    "minutes_to_departure": st.none() | st.floats(0, 10080) | st.integers(0, 10080).map(str),
}
RECORDS = st.lists(
    st.fixed_dictionaries({name: mostly(VALID[name], VALUES) for name in FIELD_NAMES}), min_size=1, max_size=6
)


def reference(rows: list[dict[str, Any]]) -> list[Record] | str:
    """Each record validated on its own, in order; the first message when one is refused."""
    try:
        return [validate_record([row[name] for name in FIELD_NAMES], index) for index, row in enumerate(rows)]
    except RecordError as error:
        return str(error)


def bulk(rows: list[dict[str, Any]]) -> pd.DataFrame | str:
    try:
        return coerce_frame(pd.DataFrame(rows, dtype=object))
    except RecordError as error:
        return str(error)


def same_values(frame: pd.DataFrame, records: list[Record]) -> bool:
    for name, column in zip(FIELD_NAMES, zip(*records, strict=True), strict=True):
        got = frame[name].tolist()
        for typed, value in zip(column, got, strict=True):
            if typed is None:
                if not pd.isna(value):
                    return False
            elif isinstance(typed, dt.date):
                if pd.Timestamp(value).date() != typed:
                    return False
            elif isinstance(typed, float):
                if typed != value:
                    return False
            elif typed != value:
                return False
    return True


@PROPERTIES
@given(rows=RECORDS)
def test_bulk_validation_gives_what_the_reference_gives(rows: list[dict[str, Any]]) -> None:
    expected, actual = reference(rows), bulk(rows)
    if isinstance(expected, str) or isinstance(actual, str):
        assert actual == expected
    else:
        assert same_values(actual, expected)


@PROPERTIES
@given(rows=RECORDS)
def test_bulk_validation_of_texts_gives_what_the_reference_gives(rows: list[dict[str, Any]]) -> None:
    """As a CSV reader gives them: every cell a text (categoricals), absent ones empty."""
    texts = [{k: "" if v is None else str(v) for k, v in row.items()} for row in rows]
    frame = pd.DataFrame(texts, dtype="category")
    expected = reference(texts)
    try:
        actual: pd.DataFrame | str = coerce_frame(frame)
    except RecordError as error:
        actual = str(error)
    if isinstance(expected, str) or isinstance(actual, str):
        assert actual == expected
    else:
        assert same_values(actual, expected)


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
        None,
        120.0,
    )


def test_records_are_numbered_from_zero_and_the_value_quoted() -> None:
    with pytest.raises(RecordError, match=r"^record 3, field crs_dep_time: '7:75' is not a time"):
        validate_record([{**GOOD, "crs_dep_time": "7:75"}[name] for name in FIELD_NAMES], 3)


def test_the_first_bad_record_in_input_order_is_named_then_the_first_field() -> None:
    rows = [GOOD, {**GOOD, "distance": "x", "carrier": "?"}, {**GOOD, "carrier": "?"}]
    assert bulk(rows) == reference(rows) == "record 1, field carrier: '?' is not an IATA carrier code like UA"


def test_a_missing_required_column_is_an_absent_value() -> None:
    rows = [{k: v for k, v in GOOD.items() if k != "origin"}]
    assert bulk(rows) == "record 0, field origin: a value is required"


def test_other_columns_are_dropped_by_the_bulk_validator() -> None:
    assert "arr_delay" not in coerce_frame(pd.DataFrame([{**GOOD, "arr_delay": 5}])).columns


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({**GOOD, "gate": "B12"}, "record 2: unknown field 'gate'; the fields are carrier, flight_number"),
        ({**GOOD, "Carrier": "UA"}, "record 2: 'carrier' and 'Carrier' both give field carrier"),
        (["UA"], "record 2: expected a flight object, got JSON array"),
        (None, "record 2: expected a flight object, got JSON null"),
    ],
)
def test_json_objects_name_only_fields(document: object, message: str) -> None:
    with pytest.raises(RecordError) as caught:
        record_values(document, 2)
    assert str(caught.value).startswith(message)


def test_json_keys_and_columns_may_be_kaggle_or_bts_names_in_any_case() -> None:
    values = record_values({"OP_CARRIER": "UA", "flightdate": "2013-11-05", " origin ": "EWR"}, 0)
    assert values[:5] == ["UA", None, "EWR", None, "2013-11-05"]
    assert field_positions(["FL_DATE", "Reporting_Airline"]) == {"flight_date": 0, "carrier": 1}
    with pytest.raises(BadValue, match="unknown field 'TAIL_NUM'"):
        field_positions(["FL_DATE", "TAIL_NUM"])


@pytest.mark.parametrize("width", [5, 12])
def test_header_less_rows_take_six_to_eleven_cells(width: int) -> None:
    with pytest.raises(InvalidInput, match=rf"^record 4: {width} fields; without a header send 6 to 11"):
        check_width(width, 4)
