"""The bulk validator's frame: one column per field, typed for the model (tests/delaycast/test_records.py holds
its verdicts and messages to the reference validator)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from delaycast.fields import FIELD_NAMES
from delaycast.schema import coerce_frame

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
        "distance": "float32",
        "origin_delay_rate_prev_day": "float32",
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
