"""The feature table: tables learned from training data, one definition for a record and a batch, unseen codes."""

from __future__ import annotations

import datetime as dt
import math
import random

import numpy as np
import pandas as pd
import pytest

from delaycast.artifact import LoadedModel
from delaycast.features import FEATURES, Feature, Plan, UnknownFeature, feature_names, minutes
from delaycast.fields import FIELD_NAMES
from delaycast.records import Record
from delaycast.schema import coerce_frame
from delaycast.transformer import FlightFeatures

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
    query = coerce_frame(pd.DataFrame([{**ROWS[0], "distance": None}, {**ROWS[0], "dest": "ORD", "distance": None}]))
    assert fitted().transform(query)["distance"].iloc[0] == 1400
    assert np.isnan(fitted().transform(query)["distance"].iloc[1])  # a route not seen in training


def test_schedule_features_and_congestion_come_from_training() -> None:
    out = fitted().transform(coerce_frame(pd.DataFrame(ROWS)))
    assert list(out["dep_minute"]) == [420, 435, 1080]
    assert list(out["block_minutes"][:2]) == [180, 180]
    assert np.isnan(out["block_minutes"].iloc[2])
    assert out["days_to_holiday"].iloc[2] == 0  # 4 July
    assert out["origin_congestion"].iloc[0] == 1  # one 7:00 EWR departure on each of two Mondays
    assert list(out["day_of_week"]) == [0, 0, 3]
    assert list(out["route"]) == ["EWR-IAH", "EWR-IAH", "JFK-ATL"]
    assert list(out["carrier_flight"]) == ["UA1", "UA2", "DL3"]
    assert list(out["origin_hour"]) == ["EWR|7", "EWR|7", "JFK|18"]
    assert list(out["carrier_origin"]) == ["UA|EWR", "UA|EWR", "DL|JFK"]
    assert list(out.columns) == list(fitted().get_feature_names_out())


def test_holiday_distance_is_signed_and_clipped() -> None:
    out = fitted().transform(
        coerce_frame(
            pd.DataFrame([{**ROWS[0], "flight_date": day} for day in ("2013-07-02", "2013-07-06", "2013-08-10")])
        )
    )
    assert list(out["days_to_holiday"]) == [2, -2, 15]  # before 4 July, after it, and the window's edge


def test_minutes_is_one_rule_for_a_float_and_an_array() -> None:
    times = [0.0, 59.0, 100.0, 515.0, 1545.0, 2359.0, 2400.0, math.nan]
    expected = [0, 59, 60, 315, 945, 1439, 1440, math.nan]
    assert np.array_equal(minutes(np.array(times)), expected, equal_nan=True)
    assert np.array_equal([minutes(t) for t in times], expected, equal_nan=True)


def records(count: int, seed: int) -> list[Record]:
    """Records over a few codes, so that a batch repeats its values, with optional fields absent.

    Their numbers are float32 values: a frame holds its floats as float32 (`coerce_frame`), a record as Python floats.
    """
    rng = random.Random(seed)
    return [
        (
            rng.choice(["UA", "DL", "9E"]),
            rng.randrange(1, 40),
            rng.choice(["EWR", "JFK", "LGA"]),
            rng.choice(["IAH", "ATL", "ORD"]),
            dt.date(2013, 1, 1) + dt.timedelta(days=rng.randrange(800)),
            rng.randrange(0, 24) * 100 + rng.randrange(0, 60),
            None if rng.random() < 0.3 else rng.randrange(0, 25) * 100,
            None if rng.random() < 0.3 else float(rng.randrange(100, 2000)),
            None if rng.random() < 0.3 else rng.randrange(0, 256) / 256,
            None if rng.random() < 0.3 else rng.randrange(0, 256) / 256,
            None if rng.random() < 0.3 else float(rng.randrange(0, 1800)),
        )
        for _ in range(count)
    ]


def test_a_record_gets_the_values_its_batch_gets() -> None:
    train = coerce_frame(pd.DataFrame(records(500, seed=1), columns=list(FIELD_NAMES)))
    plan = Plan.of(feature_names())
    tables = plan.learn(train)
    queries = records(300, seed=2)
    batch = plan.batch(coerce_frame(pd.DataFrame(queries, columns=list(FIELD_NAMES))), tables)
    one_by_one = np.array([plan.record(tables)(record) for record in queries], dtype=object)
    for j, name in enumerate(plan.outputs):
        column = batch[name]
        if name in plan.of_kind("numeric"):
            assert np.array_equal(column.values, one_by_one[:, j].astype("float64"), equal_nan=True), name
        else:
            assert column.rows().tolist() == one_by_one[:, j].tolist(), name


def test_every_model_column_is_an_entry_and_unknown_names_are_refused() -> None:
    plan = Plan.of(feature_names())
    assert plan.names == tuple(f.name for f in FEATURES)
    assert len(plan.outputs) == 17
    assert set(plan.outputs) == {f.name for f in FEATURES if f.kind != "internal"}
    with pytest.raises(UnknownFeature, match="unknown features: 'is_weekend'"):
        Plan.of([*feature_names(), "is_weekend"])
    with pytest.raises(UnknownFeature, match="'origin_hour' needs dep_hour"):
        Plan.of([name for name in feature_names() if name != "dep_hour"])


def test_a_text_feature_cannot_be_vectorised(monkeypatch: pytest.MonkeyPatch) -> None:
    wrong = Feature("route_text", "key", ("origin",), str, vectorised=True)
    monkeypatch.setattr("delaycast.features.FEATURES", (*FEATURES, wrong))
    with pytest.raises(UnknownFeature, match="'route_text': kind 'key'"):
        Plan.of([*feature_names()])


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
