"""The bulk validator's frame: one column per field, typed for the model (tests/delaycast/test_records.py holds
its verdicts and messages to the reference validator)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from hypothesis import given
from hypothesis import strategies as st

from delaycast.fields import FIELD_NAMES
from delaycast.records import Record, RecordError, validate_record
from delaycast.schema import Refusals, checked_frame, coerce_frame
from tests.delaycast.test_records import PROPERTIES, VALUES, same_values

GOOD: dict[str, object] = {
    "carrier": "ua",
    "flight_number": "1545",
    "origin": " ewr",
    "dest": "IAH",
    "flight_date": "2013-11-05",
    "crs_dep_time": "05:15",
}


def test_types_and_normalises_values_and_adds_optional_fields() -> None:
    out = coerce_frame(pd.DataFrame([GOOD, {**GOOD, "carrier": "UA"}]))
    assert list(out.columns) == list(FIELD_NAMES)
    assert out["carrier"].tolist() == ["UA", "UA"]
    assert list(out["carrier"].cat.categories) == ["UA"]
    assert out["origin"].iloc[0] == "EWR"
    assert out["crs_dep_time"].iloc[0] == 515
    assert out["flight_date"].iloc[0] == pd.Timestamp("2013-11-05")
    assert out["distance"].isna().all()
    assert dict(out.dtypes.astype(str)) == {
        "carrier": "category",
        "flight_number": "int32",
        "origin": "category",
        "dest": "category",
        "flight_date": "datetime64[s]",
        "crs_dep_time": "int32",
        "crs_arr_time": "float32",
        "distance": "float64",
        "origin_delay_rate_prev_day": "float64",
        "origin_delay_rate_today": "float64",
        "minutes_to_departure": "float64",
    }


def test_typed_columns_of_a_training_file_are_read_by_the_same_grammar() -> None:
    frame = pd.DataFrame(
        {
            "carrier": pd.Categorical(["UA"]),
            "flight_number": np.array([1545], dtype="int64"),
            "origin": ["EWR"],
            "dest": ["IAH"],
            "flight_date": pd.to_datetime(["2013-11-05"]),
            "crs_dep_time": np.array([515.0]),
            "distance": np.array([1400.0], dtype="float32"),
        }
    )
    out = coerce_frame(frame)
    assert out["flight_number"].iloc[0] == 1545
    assert out["flight_date"].iloc[0] == pd.Timestamp("2013-11-05")
    assert out["distance"].iloc[0] == 1400.0


def every_verdict(rows: list[dict[str, Any]]) -> list[Record | str]:
    """Each record through the reference validator on its own: its typed values or its message."""
    verdicts: list[Record | str] = []
    for index, row in enumerate(rows):
        try:
            verdicts.append(validate_record([row[name] for name in FIELD_NAMES], index))
        except RecordError as error:
            verdicts.append(str(error))
    return verdicts


@PROPERTIES
@given(rows=st.lists(st.fixed_dictionaries({name: VALUES for name in FIELD_NAMES}), min_size=1, max_size=12))
def test_checked_frame_keeps_what_the_reference_accepts_and_names_every_refusal(rows: list[dict[str, Any]]) -> None:
    expected = every_verdict(rows)
    frame, refusals = checked_frame(pd.DataFrame(rows, dtype=object))
    assert [str(error) for error in refusals.errors(len(rows))] == [v for v in expected if isinstance(v, str)]
    assert refusals.count == sum(isinstance(v, str) for v in expected)
    accepted = [v for v in expected if not isinstance(v, str)]
    assert frame.index.tolist() == [i for i, v in enumerate(expected) if not isinstance(v, str)]
    assert len(frame) == len(accepted)
    if accepted:
        assert same_values(frame, accepted)


def test_refusals_of_a_codec_come_first_and_the_validator_names_the_rest() -> None:
    codec = Refusals(np.array([-1, 0, -1, -1]), ((None, "a blank line"),))
    inner = Refusals(np.array([-1, 0, -1]), (("carrier", "'?' is not an IATA carrier code"),))
    both = codec.then(inner)
    assert [str(error) for error in both.errors(10)] == [
        "record 1: a blank line",
        "record 2, field carrier: '?' is not an IATA carrier code",
    ]
    assert both.count == 2
    assert [str(error) for error in both.errors(1)] == ["record 1: a blank line"]
