"""Validation of canonical records: typed output, and the first bad row and column named."""

from __future__ import annotations

import pandas as pd
import pytest

from delaycast.errors import InvalidInput
from delaycast.fields import FIELD_NAMES
from delaycast.schema import RowError, coerce_frame

GOOD: dict[str, object] = {
    "carrier": "ua",
    "flight_number": "1545",
    "origin": " ewr",
    "dest": "IAH",
    "flight_date": "2013-11-05",
    "crs_dep_time": "0515",
}


def frame(*rows: dict[str, object]) -> pd.DataFrame:
    return pd.DataFrame(list(rows))


def test_types_and_normalises_values_and_adds_optional_fields() -> None:
    out = coerce_frame(frame(GOOD))
    assert list(out.columns) == list(FIELD_NAMES)
    assert out["carrier"].iloc[0] == "UA"
    assert out["origin"].iloc[0] == "EWR"
    assert out["crs_dep_time"].iloc[0] == 515
    assert out["flight_date"].iloc[0] == pd.Timestamp("2013-11-05")
    assert out["distance"].isna().all()


def test_unknown_columns_are_dropped() -> None:
    assert "tail_number" not in coerce_frame(frame({**GOOD, "tail_number": "N123"})).columns


def test_missing_required_column_is_named() -> None:
    row = {k: v for k, v in GOOD.items() if k != "origin"}
    with pytest.raises(InvalidInput, match=r"missing required column\(s\): origin"):
        coerce_frame(frame(row))


@pytest.mark.parametrize(
    ("change", "column", "reason"),
    [
        ({"carrier": "UAL"}, "carrier", "'UAL' is not an IATA code like UA"),
        ({"origin": "JF"}, "origin", "'JF' is not an IATA code like JFK"),
        ({"flight_date": "2013-02-30"}, "flight_date", "'2013-02-30' is not a date YYYY-MM-DD"),
        ({"crs_dep_time": "2460"}, "crs_dep_time", "2460 is not a time HHMM"),
        ({"crs_dep_time": "7:15"}, "crs_dep_time", "'7:15' is not a number"),
        ({"flight_number": "0"}, "flight_number", "0 is outside 1..9999"),
        ({"flight_number": "12.5"}, "flight_number", "must be a whole number"),
        ({"distance": "inf"}, "distance", "must be a finite number"),
        ({"origin_delay_rate_prev_day": "1.5"}, "origin_delay_rate_prev_day", "1.5 is outside 0..1"),
        ({"dest": None}, "dest", "a value is required"),
    ],
)
def test_first_bad_row_and_column_are_named(change: dict[str, object], column: str, reason: str) -> None:
    with pytest.raises(RowError) as caught:
        coerce_frame(frame(GOOD, {**GOOD, **change}))
    assert (caught.value.row, caught.value.column) == (1, column)
    assert caught.value.reason.startswith(reason)
