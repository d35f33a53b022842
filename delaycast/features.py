"""Feature engineering that lives inside the saved model.

`FlightFeatures` turns canonical records (see `delaycast.schema`) into model
features. Everything it learns (route distances, scheduled congestion) comes
from the training data passed to `fit`, so callers send raw flight fields only.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd
from pandas.tseries.holiday import USFederalHolidayCalendar
from sklearn.base import BaseEstimator, TransformerMixin

from delaycast.feature_names import CATEGORICAL, HOLIDAY_WINDOW_DAYS, KEYS, NUMERIC


class FlightFeatures(TransformerMixin, BaseEstimator):  # type: ignore[misc]
    """Canonical flight records -> a frame of categorical, key and numeric features."""

    def fit(self, X: pd.DataFrame, y: Any = None) -> FlightFeatures:
        """Learn route distances and scheduled departures per origin, weekday and hour."""
        route = _combine(X["origin"], X["dest"], "-")
        distances = X["distance"].groupby(route, observed=True).median().dropna()
        self.route_distance_ = {str(k): float(v) for k, v in distances.items()}
        self.origin_congestion_ = _congestion_table(X)
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        """Engineer the features of each record; unknown codes become unseen categories."""
        dep_minute = _minutes(X["crs_dep_time"])
        arr_minute = _minutes(X["crs_arr_time"])
        dates = pd.DatetimeIndex(X["flight_date"])
        route = _combine(X["origin"], X["dest"], "-")
        distance = X["distance"].astype("float64").to_numpy(copy=True)
        absent = np.isnan(distance)
        if absent.any():
            distance[absent] = _lookup(route, self.route_distance_)[absent]
        day_of_week = dates.day_of_week.to_numpy()
        dep_hour = dep_minute // 60
        congestion_key = _combine(_combine(X["origin"], day_of_week, "|"), dep_hour, "|")
        return pd.DataFrame(
            {
                "carrier": X["carrier"].astype(str).to_numpy(),
                "origin": X["origin"].astype(str).to_numpy(),
                "dest": X["dest"].astype(str).to_numpy(),
                "route": route,
                "carrier_flight": _combine(X["carrier"], X["flight_number"], ""),
                "origin_hour": _combine(X["origin"], dep_hour, "|"),
                "carrier_origin": _combine(X["carrier"], X["origin"], "|"),
                "dep_minute": dep_minute,
                "arr_minute": arr_minute,
                "block_minutes": np.mod(arr_minute - dep_minute, 1440),
                "distance": distance,
                "day_of_week": day_of_week.astype("float64"),
                "days_to_holiday": _days_to_holiday(dates),
                "origin_congestion": _lookup(congestion_key, self.origin_congestion_),
                "origin_delay_rate_prev_day": X["origin_delay_rate_prev_day"].astype("float64").to_numpy(),
            },
            index=X.index,
        )

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """Names of the columns `transform` returns."""
        return np.asarray(CATEGORICAL + KEYS + NUMERIC, dtype=object)


def _minutes(hhmm: pd.Series) -> np.ndarray:
    values = hhmm.astype("float64").to_numpy()
    return (values // 100) * 60 + values % 100


def _combine(left: pd.Series | np.ndarray, right: pd.Series | np.ndarray, sep: str) -> np.ndarray:
    """Row-wise `left + sep + right` as strings, built once per distinct pair (from integer codes)."""
    left_codes, left_texts = _texts(left)
    right_codes, right_texts = _texts(right)
    width = len(right_texts)
    codes, pairs = pd.factorize(left_codes * width + right_codes)
    texts = [f"{left_texts[pair // width]}{sep}{right_texts[pair % width]}" for pair in pairs.tolist()]
    labels = np.asarray(texts, dtype=object)
    return labels[codes]


def _texts(values: pd.Series | np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Integer codes into a list of texts; code 0 is the empty text of a missing value."""
    codes, uniques = pd.factorize(values)
    return codes.astype("int64") + 1, ["", *(_text(u) for u in uniques)]


def _text(value: object) -> str:
    if isinstance(value, float):
        return "" if np.isnan(value) else str(int(value))
    return str(value)


def _lookup(keys: np.ndarray, table: dict[str, float]) -> np.ndarray:
    codes, uniques = pd.factorize(keys)
    values = np.asarray([table.get(k, np.nan) for k in uniques], dtype="float64")
    return values[codes]


def _congestion_table(X: pd.DataFrame) -> dict[str, float]:
    """Mean scheduled departures per origin, weekday and hour over the training dates."""
    frame = pd.DataFrame(
        {
            "origin": X["origin"].astype(str).to_numpy(),
            "date": X["flight_date"].to_numpy(),
            "hour": _minutes(X["crs_dep_time"]) // 60,
        }
    )
    per_day = frame.groupby(["origin", "date", "hour"], observed=True).size().rename("n").reset_index()
    per_day["dow"] = pd.DatetimeIndex(per_day["date"]).day_of_week
    means = per_day.groupby(["origin", "dow", "hour"], observed=True)["n"].mean().reset_index()
    keys = _combine(_combine(means["origin"], means["dow"], "|"), means["hour"], "|")
    return dict(zip(keys.tolist(), means["n"].astype(float).tolist(), strict=True))


def _days_to_holiday(dates: pd.DatetimeIndex) -> np.ndarray:
    """Signed days to the nearest US federal holiday, clipped to +-HOLIDAY_WINDOW_DAYS."""
    codes, uniques = pd.factorize(dates)
    days = np.asarray(uniques, dtype="datetime64[D]")
    holidays = holiday_days()
    after = np.searchsorted(holidays, days)
    next_gap = (holidays[np.minimum(after, len(holidays) - 1)] - days).astype("int64")
    prev_gap = (days - holidays[np.maximum(after - 1, 0)]).astype("int64")
    signed = np.where(next_gap < prev_gap, next_gap, -prev_gap)
    clipped: np.ndarray = np.clip(signed, -HOLIDAY_WINDOW_DAYS, HOLIDAY_WINDOW_DAYS).astype("float64")
    return clipped[codes]


@lru_cache(maxsize=1)
def holiday_days() -> np.ndarray:
    """US federal holidays 1990-2060, sorted, as datetime64[D]."""
    calendar = USFederalHolidayCalendar()
    return np.asarray(calendar.holidays("1990-01-01", "2060-12-31"), dtype="datetime64[D]")
