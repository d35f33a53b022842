"""Features learned from training data: route distances, congestion, and unseen codes."""

from __future__ import annotations

import numpy as np
import pandas as pd

from delaycast.artifact import LoadedModel
from delaycast.features import FlightFeatures
from delaycast.schema import coerce_frame

ROWS = [
    {
        "carrier": "UA",
        "flight_number": 1,
        "origin": "EWR",
        "dest": "IAH",
        "flight_date": "2013-07-01",
        "crs_dep_time": 700,
        "crs_arr_time": 1000,
        "distance": 1400,
    },
    {
        "carrier": "UA",
        "flight_number": 2,
        "origin": "EWR",
        "dest": "IAH",
        "flight_date": "2013-07-08",
        "crs_dep_time": 715,
        "crs_arr_time": 1015,
        "distance": 1400,
    },
    {
        "carrier": "DL",
        "flight_number": 3,
        "origin": "JFK",
        "dest": "ATL",
        "flight_date": "2013-07-04",
        "crs_dep_time": 1800,
        "distance": 760,
    },
]


def fitted() -> FlightFeatures:
    return FlightFeatures().fit(coerce_frame(pd.DataFrame(ROWS)))


def test_missing_distance_is_filled_from_the_route() -> None:
    query = coerce_frame(pd.DataFrame([{**ROWS[0], "distance": None}]))
    assert fitted().transform(query)["distance"].iloc[0] == 1400


def test_schedule_features_and_congestion_come_from_training() -> None:
    out = fitted().transform(coerce_frame(pd.DataFrame(ROWS)))
    assert list(out["dep_minute"]) == [420, 435, 1080]
    assert list(out["block_minutes"][:2]) == [180, 180]
    assert np.isnan(out["block_minutes"].iloc[2])
    assert out["days_to_holiday"].iloc[2] == 0  # 4 July
    assert out["origin_congestion"].iloc[0] == 1  # one 7:00 EWR departure on each of two Mondays
    assert out["route"].iloc[0] == "EWR-IAH"


def test_unknown_codes_and_routes_predict_without_error(loaded_model: LoadedModel) -> None:
    unseen = {
        "carrier": "ZZ",
        "flight_number": 9999,
        "origin": "XYZ",
        "dest": "QQQ",
        "flight_date": "2030-01-01",
        "crs_dep_time": 2400,
    }
    probability = loaded_model.estimator.predict_proba(coerce_frame(pd.DataFrame([unseen])))[0, 1]
    assert 0 < probability < 1
