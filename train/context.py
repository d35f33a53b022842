"""The context of every training flight at its prediction instant, vectorised: the rule of `delaycast.context`
(which the Lambda applies to the flight store's items), held to it by property tests.

Each departure of the data becomes known at one instant, late or not (`Departure.known_at`); per airport and
local day the departures are sorted by that instant, so that the number known, and known late, at any instant is
a binary search. A flight's instant is its scheduled departure less a lead time, sampled in training and fixed
for the lead-time table.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from delaycast.context import LATE_MINUTES, MIN_KNOWN, MINUTES_PER_DAY

LEAD_HOURS = (24, 8, 4, 2, 1, 0)  # the lead-time table's rows: day before to departure time
_SPAN = np.int64(1) << 32  # room for every instant of one group in the composite search key
NOT_DEPARTED = np.iinfo(np.int64).min  # an actual minute that no departure has


def flight_days(frame: pd.DataFrame) -> np.ndarray:
    """Each flight's date as days since 1970-01-01 (a 2400 departure belongs to its date, not the next)."""
    return frame["flight_date"].to_numpy().astype("datetime64[D]").astype(np.int64)


def scheduled_minutes(frame: pd.DataFrame) -> np.ndarray:
    """Each flight's scheduled departure on its origin's local clock (`delaycast.context.local_minute`)."""
    hhmm = frame["crs_dep_time"].to_numpy().astype(np.int64)
    return flight_days(frame) * MINUTES_PER_DAY + hhmm // 100 * 60 + hhmm % 100


def actual_minutes(scheduled: np.ndarray, dep_delay: np.ndarray) -> np.ndarray:
    """When each flight left (scheduled + delay, rounded to the minute as the store keeps it); NOT_DEPARTED for
    a flight that did not leave."""
    delay = np.asarray(dep_delay, dtype=np.float64)
    return np.where(np.isnan(delay), NOT_DEPARTED, scheduled + np.rint(np.nan_to_num(delay)).astype(np.int64))


class DepartureIndex:
    """Every departure of a data set by origin and local day, sorted by when its lateness becomes known."""

    def __init__(self, origins: np.ndarray, days: np.ndarray, scheduled: np.ndarray, actual: np.ndarray) -> None:
        on_time = (actual != NOT_DEPARTED) & (actual - scheduled < LATE_MINUTES)
        known_at = np.where(on_time, actual, scheduled + LATE_MINUTES)
        self._airports = {name: code for code, name in enumerate(pd.unique(origins))}
        groups = self._group(origins, days)
        self._base = int(known_at.min()) - 2 * MINUTES_PER_DAY if len(known_at) else 0
        keys = groups * _SPAN + (known_at - self._base)
        order = np.argsort(keys, kind="stable")
        self._keys = keys[order]
        self._late_before = np.concatenate(([0], np.cumsum(~on_time[order])))

    @classmethod
    def of(cls, frame: pd.DataFrame) -> DepartureIndex:
        """The departures of a frame of flights with `dep_delay` (NaN: never left, or cancelled)."""
        scheduled = scheduled_minutes(frame)
        origins = frame["origin"].astype(str).to_numpy()
        return cls(origins, flight_days(frame), scheduled, actual_minutes(scheduled, frame["dep_delay"].to_numpy()))

    def late_share(self, origins: np.ndarray, days: np.ndarray, instants: np.ndarray) -> np.ndarray:
        """For each query, the share of the airport's departures of that local day known late at the instant;
        NaN when fewer than MIN_KNOWN are known (`delaycast.context.late_share`)."""
        groups = self._group(origins, days)
        missing = groups < 0
        start = np.searchsorted(self._keys, np.where(missing, 0, groups) * _SPAN, side="left")
        offset = np.clip(instants - self._base, 0, _SPAN - 1)
        stop = np.searchsorted(self._keys, np.where(missing, 0, groups) * _SPAN + offset, side="right")
        known = np.where(missing, 0, stop - start)
        late = self._late_before[stop] - self._late_before[start]
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(known >= MIN_KNOWN, late / known, np.nan)

    def _group(self, origins: np.ndarray, days: np.ndarray) -> np.ndarray:
        """A number per airport and day (-1 for an airport the index does not have)."""
        codes = np.array([self._airports.get(name, -1) for name in origins], dtype=np.int64)
        return np.where(codes < 0, -1, days.astype(np.int64) * len(self._airports) + codes)


def context_frame(flights: pd.DataFrame, departures: DepartureIndex, lead_minutes: np.ndarray) -> pd.DataFrame:
    """The context fields (CONTEXT_FIELDS) of each flight predicted `lead_minutes` before its departure."""
    scheduled = scheduled_minutes(flights)
    instants = scheduled - lead_minutes.astype(np.int64)
    origins = flights["origin"].astype(str).to_numpy()
    day = flight_days(flights)
    return pd.DataFrame(
        {
            "origin_delay_rate_prev_day": departures.late_share(origins, day - 1, instants),
            "origin_delay_rate_today": departures.late_share(origins, day, instants),
            "minutes_to_departure": lead_minutes.astype(np.float64),
        },
        index=flights.index,
    )


def sampled_leads(count: int, max_hours: float, rng: np.random.Generator) -> np.ndarray:
    """Lead times in whole minutes, uniform over 0..max_hours: the prediction instants training learns from."""
    return rng.integers(0, int(max_hours * 60) + 1, size=count)
