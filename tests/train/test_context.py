"""The vectorised context of training (train.context) against the one definition (delaycast.context), and the
no-leak property: nothing after the prediction instant changes a feature."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from delaycast.context import Departure, context_at, hhmm_minutes, local_minute
from train.context import DepartureIndex, context_frame, scheduled_minutes

PROPERTIES = settings(max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
DAY = dt.date(2013, 11, 5)
FLIGHTS = st.lists(
    st.tuples(
        st.sampled_from(["EWR", "JFK"]),
        st.integers(-1, 1),  # day offset from DAY
        st.integers(0, 24).flatmap(lambda hour: st.integers(0, 59 if hour < 24 else 0).map(lambda m: hour * 100 + m)),
        st.none() | st.integers(-20, 300),  # dep_delay; None: cancelled
    ),
    min_size=1,
    max_size=60,
)


def frame_of(flights: Sequence[tuple[str, int, int, int | None]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "origin": [origin for origin, *_ in flights],
            "flight_date": pd.to_datetime([DAY + dt.timedelta(days=offset) for _, offset, *_ in flights]),
            "crs_dep_time": [hhmm for *_, hhmm, _ in flights],
            "dep_delay": [np.nan if delay is None else float(delay) for *_, delay in flights],
        }
    )


def reference(frame: pd.DataFrame, row: int, lead: int) -> dict[str, float | None]:
    """delaycast.context on the departures the store would hold for the row's origin."""

    def departures(day: dt.date) -> list[Departure]:
        same = frame[(frame["origin"] == frame["origin"][row]) & (frame["flight_date"].dt.date == day)]
        out = []
        for hhmm, delay in zip(same["crs_dep_time"], same["dep_delay"], strict=True):
            scheduled = local_minute(day, hhmm_minutes(int(hhmm)))
            out.append(Departure(scheduled, None if math.isnan(delay) else scheduled + round(delay)))
        return out

    day = frame["flight_date"][row].date()
    scheduled = local_minute(day, hhmm_minutes(int(frame["crs_dep_time"][row])))
    return context_at(departures(day - dt.timedelta(days=1)), departures(day), scheduled, scheduled - lead)


@PROPERTIES
@given(FLIGHTS, st.lists(st.integers(0, 36 * 60), min_size=1, max_size=60))
def test_training_context_equals_the_definition(
    flights: list[tuple[str, int, int, int | None]], leads: list[int]
) -> None:
    frame = frame_of(flights)
    lead = np.resize(np.array(leads), len(frame))
    vectorised = context_frame(frame, DepartureIndex.of(frame), lead)
    for row in range(len(frame)):
        expected = reference(frame, row, int(lead[row]))
        got = vectorised.iloc[row].to_dict()
        assert {k: None if np.isnan(v) else v for k, v in got.items()} == expected, row


@PROPERTIES
@given(FLIGHTS, st.integers(0, 30 * 60), st.data())
def test_nothing_after_the_prediction_instant_changes_a_feature(
    flights: list[tuple[str, int, int, int | None]], lead: int, data: st.DataObject
) -> None:
    frame = frame_of(flights)
    query = frame.iloc[[0]]
    instant = int(scheduled_minutes(query)[0]) - lead
    before = context_frame(query, DepartureIndex.of(frame), np.array([lead]))
    scheduled = scheduled_minutes(frame)
    actual = scheduled + np.nan_to_num(frame["dep_delay"].to_numpy(), nan=10**6)
    later = (scheduled > instant) & (actual > instant)  # flights that had neither their schedule nor a departure
    changed = frame.copy()
    new_delays = data.draw(st.lists(st.none() | st.integers(0, 600), min_size=len(frame), max_size=len(frame)))
    changed.loc[later, "dep_delay"] = [
        np.nan if d is None else float(d) for d, keep in zip(new_delays, later, strict=True) if keep
    ]
    added = frame_of([(str(query["origin"].iloc[0]), 0, 2359, data.draw(st.none() | st.integers(0, 60)))])
    added = added[scheduled_minutes(added) > instant]
    changed = pd.concat([changed, added], ignore_index=True)
    after = context_frame(changed.iloc[[0]], DepartureIndex.of(changed), np.array([lead]))
    pd.testing.assert_frame_equal(before.reset_index(drop=True), after.reset_index(drop=True))


def test_a_late_departure_is_known_fifteen_minutes_after_its_schedule() -> None:
    # Six departures at 06:00, one of them 40 minutes late; the query flight leaves at 09:00.
    delays = [0, 5, 40, 2, 1, 3]
    frame = frame_of([("EWR", 0, 600, delay) for delay in delays] + [("EWR", 0, 900, 0)])
    index = DepartureIndex.of(frame)
    query = frame.iloc[[6]]
    today = {
        lead: context_frame(query, index, np.array([lead]))["origin_delay_rate_today"].iloc[0]
        for lead in (180, 170, 164)
    }
    assert np.isnan(today[180])  # 06:00: nothing known yet
    assert today[170] == 0.0  # 06:10: five left on time; the sixth is not known yet
    assert today[164] == 1 / 6  # 06:16: the late one is known late before it leaves
