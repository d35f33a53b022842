"""The model's features, each defined once: the table FEATURES. Pure Python and NumPy (pandas for batches).

Every path computes features from these entries and nothing else: training (`delaycast.transformer.
FlightFeatures`, the scikit-learn step that learns the entries' tables and transforms frames), the compiled
batch encoder (`CompiledPipeline.encode`) and the compiled single-record path (`CompiledPipeline.probability`).
`Plan` turns a list of entry names into those evaluations: `Plan.batch` for a frame from
`delaycast.schema.coerce_frame`, `Plan.record` for one validated record in FIELDS order.

An entry is `Feature(name, kind, inputs, compute)`:
- kind: how the model takes it. "categorical": text, ordinal-encoded (the trees split on sets of its codes; at
  most 255 values are kept); "key": text, target-encoded (the training delay rate of its value); "numeric": a
  number as it is; "internal": no column of the model, only an input of later entries.
- inputs: names of record fields (`delaycast.fields.FIELDS`) or of earlier entries. An entry named as a field
  takes the field's place for the entries after it (`distance` is the field before its entry, the filled
  distance after it).
- compute: a plain function of the inputs' values, and of the entry's learned table first when it has `learn`.
  By default it is called with Python values, once per distinct combination of input values in a batch (text
  keys, lookups, calendars); with `vectorised=True` it is called with whole float64 arrays of a batch (and with
  floats for a record), so it is arithmetic that a Python float and a NumPy array share: operators (`+`, `*`,
  `/`, comparisons) and `floor` below, not `math` or other NumPy functions.
- learn: for an entry with a table, builds the table from the training batch (`Scope[name]` gives the columns
  named as the entry's inputs are); the table must be JSON (dicts of text to float, lists of numbers): it is
  saved in the scikit-learn model and in the compiled archive.

The values an entry sees: carrier and airport codes are `str`, dates `datetime.date`, every number `float`
(NaN when absent, in a record as in a batch).

To add a field: append its `Field` to `delaycast.fields.FIELDS` (its kind gives its grammar and its value
here); the model sees it only through an entry that names it in `inputs`.
To add a feature: add one entry to FEATURES, after the entries it reads (its kind decides its encoding; nothing
else is written per feature: the encoder's columns, the compiled tables and the archive follow the fitted
step's list of names). Then retrain (`python -m train`): the model directory is written again, its compiled
archive `compiled.npz` included (exported at training, it carries the names of its entries). Nothing else is
regenerated. Code and model go out together: code whose table lacks an entry a model names refuses that model
(CompileError for the archive, UnknownFeature from the scikit-learn step); code whose entry computes something
else than at training scores the model with the new definition (the probe check at load catches that only
where the probe answers move), so changing an existing entry means retraining as well.
"""

from __future__ import annotations

import bisect
import datetime as dt
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import pandas as pd

from delaycast.fields import FIELDS, Value

KINDS = ("categorical", "key", "numeric", "internal")
NUMBER_KINDS = ("int", "hhmm", "float")  # fields whose values an entry sees as float
MODEL_KINDS = KINDS[:3]  # the encoder's column groups, in its output order
HOLIDAY_WINDOW_DAYS = 15
HOLIDAY_YEARS = (1990, 2060)


class UnknownFeature(ValueError):
    """A feature list names an entry this table does not have, lists one twice or before an entry it reads, or
    the entry is not well formed (its kind)."""


@dataclass(frozen=True)
class Feature:
    """One entry of the feature table (see the module docstring)."""

    name: str
    kind: str  # categorical | key | numeric | internal
    inputs: tuple[str, ...]
    compute: Callable[..., Any]
    vectorised: bool = False  # compute takes whole float64 arrays, else Python values once per distinct input
    learn: Callable[[Scope], Any] | None = None  # builds the table compute takes first, from the training batch


# --- The definitions -------------------------------------------------------------------------------------------


def floor(number: Any) -> Any:
    """The floor of a float, or of each float of an array (NumPy's `//` on floats costs several times `np.floor`)."""
    return np.floor(number) if isinstance(number, np.ndarray) else number // 1


def minutes(hhmm: Any) -> Any:
    """Minutes past midnight of an HHMM time (a float or an array of them): HH * 100 + MM less HH * 40."""
    return hhmm - floor(hhmm / 100) * 40


def _block_minutes(arr_minute: Any, dep_minute: Any) -> Any:
    """Scheduled minutes from departure to arrival, across midnight: the gap modulo a day."""
    gap = arr_minute - dep_minute
    return gap - floor(gap / 1440) * 1440


def looked_up(table: dict[str, float], key: str) -> float:
    """A learned table's value of a key, NaN when training did not see it."""
    return table.get(key, math.nan)


def _same(value: Any) -> Any:
    """The input itself (a field given to the model as it is: evaluation copies it, without a call)."""
    return value


def _filled_distance(route_distance: dict[str, float], distance: float, route: str) -> float:
    """The distance given, else the route's median distance in training."""
    return looked_up(route_distance, route) if math.isnan(distance) else distance


def _days_to_holiday(holidays: list[int], day: dt.date) -> float:
    """Signed days to the nearest holiday (negative after it), clipped to +-HOLIDAY_WINDOW_DAYS."""
    ordinal = day.toordinal()
    after = bisect.bisect_left(holidays, ordinal)
    next_gap = holidays[min(after, len(holidays) - 1)] - ordinal
    prev_gap = ordinal - holidays[max(after - 1, 0)]
    gap = next_gap if next_gap < prev_gap else -prev_gap
    return float(max(-HOLIDAY_WINDOW_DAYS, min(HOLIDAY_WINDOW_DAYS, gap)))


def _median_route_distance(scope: Scope) -> dict[str, float]:
    """Median distance given per route in training."""
    route, distance = scope["route"], scope["distance"]
    medians = pd.Series(distance.values).groupby(route.codes).median().dropna()
    return {route.uniques[code]: value for code, value in zip(medians.index.tolist(), medians.tolist(), strict=True)}


def _mean_departures(scope: Scope) -> dict[str, float]:
    """Mean scheduled departures per congestion key (origin, weekday, hour) over the training days that have any."""
    key, day = scope["congestion_key"], scope["flight_date"]
    pairs, counts = np.unique(key.codes * len(day.uniques) + day.codes, return_counts=True)
    keys = pairs // len(day.uniques)
    totals = np.bincount(keys, weights=counts, minlength=len(key.uniques))
    days = np.bincount(keys, minlength=len(key.uniques))
    return {key.uniques[code]: float(totals[code] / days[code]) for code in np.flatnonzero(days).tolist()}


def _federal_holidays(scope: Scope) -> list[int]:
    """US federal holidays of HOLIDAY_YEARS as sorted date ordinals (pandas' calendar, imported at training only)."""
    from pandas.tseries.holiday import USFederalHolidayCalendar

    first, last = HOLIDAY_YEARS
    days = USFederalHolidayCalendar().holidays(f"{first}-01-01", f"{last}-12-31")
    return sorted(day.toordinal() for day in days.date)


FEATURES: tuple[Feature, ...] = (
    Feature("carrier", "categorical", ("carrier",), _same),
    Feature("origin", "categorical", ("origin",), _same),
    Feature("dest", "categorical", ("dest",), _same),
    Feature("dep_minute", "numeric", ("crs_dep_time",), minutes, vectorised=True),
    Feature("arr_minute", "numeric", ("crs_arr_time",), minutes, vectorised=True),
    Feature("dep_hour", "internal", ("dep_minute",), lambda minute: floor(minute / 60), vectorised=True),
    Feature("route", "key", ("origin", "dest"), lambda origin, dest: f"{origin}-{dest}"),
    Feature("carrier_flight", "key", ("carrier", "flight_number"), lambda carrier, number: f"{carrier}{number:.0f}"),
    Feature("origin_hour", "key", ("origin", "dep_hour"), lambda origin, hour: f"{origin}|{hour:.0f}"),
    Feature("carrier_origin", "key", ("carrier", "origin"), lambda carrier, origin: f"{carrier}|{origin}"),
    Feature("block_minutes", "numeric", ("arr_minute", "dep_minute"), _block_minutes, vectorised=True),
    Feature("distance", "numeric", ("distance", "route"), _filled_distance, learn=_median_route_distance),
    Feature("day_of_week", "numeric", ("flight_date",), lambda day: float(day.weekday())),
    Feature("days_to_holiday", "numeric", ("flight_date",), _days_to_holiday, learn=_federal_holidays),
    Feature(
        "congestion_key",
        "internal",
        ("origin", "day_of_week", "dep_hour"),
        lambda origin, weekday, hour: f"{origin}|{weekday:.0f}|{hour:.0f}",
    ),
    Feature("origin_congestion", "numeric", ("congestion_key",), looked_up, learn=_mean_departures),
    Feature("origin_delay_rate_prev_day", "numeric", ("origin_delay_rate_prev_day",), _same, vectorised=True),
    Feature("origin_delay_rate_today", "numeric", ("origin_delay_rate_today",), _same, vectorised=True),
    Feature("minutes_to_departure", "numeric", ("minutes_to_departure",), _same, vectorised=True),
)


def feature_names() -> tuple[str, ...]:
    """The names of every entry of the table, in its order: what a FlightFeatures step fitted now computes."""
    return tuple(feature.name for feature in FEATURES)


# --- Evaluation ------------------------------------------------------------------------------------------------

_FIELD_SLOTS = {spec.name: slot for slot, spec in enumerate(FIELDS)}


@dataclass(frozen=True)
class Plan:
    """Entries of the table by name, each input resolved to a slot: the fields first, then the entries in order."""

    features: tuple[Feature, ...]
    inputs: tuple[tuple[int, ...], ...]  # each entry's input slots
    scopes: tuple[dict[str, int], ...]  # the names each entry sees, and their slots

    @classmethod
    def of(cls, names: Sequence[str]) -> Plan:
        """The plan of these entries; UnknownFeature for a name the table does not have or an input not before it."""
        table = {feature.name: feature for feature in FEATURES}
        unknown = [name for name in names if name not in table]
        if unknown:
            raise UnknownFeature(f"unknown features: {', '.join(map(repr, unknown))} (not in the feature table)")
        if len(set(names)) != len(names):
            raise UnknownFeature(f"a feature is listed twice in {list(names)}")
        scope = dict(_FIELD_SLOTS)
        features, inputs, scopes = [], [], []
        for position, name in enumerate(names):
            feature = table[name]
            missing = [n for n in feature.inputs if n not in scope]
            if missing:
                raise UnknownFeature(
                    f"feature {name!r} needs {', '.join(missing)}, which no field or entry before it is"
                )
            if feature.kind not in KINDS or (feature.vectorised and feature.kind in ("categorical", "key")):
                raise UnknownFeature(f"feature {name!r}: kind {feature.kind!r} (vectorised={feature.vectorised})")
            features.append(feature)
            inputs.append(tuple(scope[n] for n in feature.inputs))
            scopes.append(dict(scope))
            scope[name] = len(FIELDS) + position
        return cls(tuple(features), tuple(inputs), tuple(scopes))

    @property
    def names(self) -> tuple[str, ...]:
        """Every entry's name, in order."""
        return tuple(feature.name for feature in self.features)

    def of_kind(self, kind: str) -> list[str]:
        """The names of the entries of one kind, in order."""
        return [feature.name for feature in self.features if feature.kind == kind]

    @property
    def outputs(self) -> list[str]:
        """The model's columns: categorical, key, then numeric entries, each group in table order."""
        return [name for kind in MODEL_KINDS for name in self.of_kind(kind)]

    def learn(self, frame: pd.DataFrame) -> dict[str, Any]:
        """The tables of the entries that learn one, from a training frame (`coerce_frame`)."""
        tables: dict[str, Any] = {}
        batch = Batch(self, frame, tables)
        for position, feature in enumerate(self.features):
            if feature.learn is not None:
                tables[feature.name] = feature.learn(Scope(batch, self.scopes[position]))
        return tables

    def batch(self, frame: pd.DataFrame, tables: dict[str, Any]) -> Batch:
        """The entries of a frame (`coerce_frame`), computed when asked for."""
        return Batch(self, frame, tables)

    def record(
        self, tables: dict[str, Any], encodings: dict[str, tuple[dict[str, Any], float]] | None = None
    ) -> Callable[[Sequence[Value]], list[Any]]:
        """The function giving a validated record's (FIELDS order) model columns, in `outputs` order.

        With `encodings` (entry name -> table and default), those columns are looked up: the encoded vector.
        The function is straight-line Python written from the plan (one call per entry, the inputs passed by
        slot): about half the time of a loop over the entries.
        """
        namespace: dict[str, Any] = {"nan": math.nan}
        lines = ["def record_values(record):", f"    {''.join(f's{i}, ' for i in range(len(FIELDS)))}= record"]
        lines += [
            f"    s{i} = nan if s{i} is None else float(s{i})"
            for i, spec in enumerate(FIELDS)
            if spec.kind in NUMBER_KINDS
        ]
        for position, (feature, inputs) in enumerate(zip(self.features, self.inputs, strict=True)):
            compute = feature.compute
            namespace[f"compute{position}"] = (
                compute if feature.learn is None else partial(compute, tables[feature.name])
            )
            arguments = ", ".join(f"s{slot}" for slot in inputs)
            call = arguments if compute is _same else f"compute{position}({arguments})"
            lines.append(f"    s{len(FIELDS) + position} = {call}")
        columns = []
        for name in self.outputs:
            slot = len(FIELDS) + self.names.index(name)
            if encodings is not None and name in encodings:
                namespace[f"table{slot}"], namespace[f"default{slot}"] = encodings[name]
                columns.append(f"table{slot}.get(s{slot}, default{slot})")
            else:
                columns.append(f"s{slot}")
        lines.append(f"    return [{', '.join(columns)}]")
        exec("\n".join(lines), namespace)
        values: Callable[[Sequence[Value]], list[Any]] = namespace["record_values"]
        return values


class Column:
    """One column of a batch: float64 values per row, or codes into its distinct Python values, each made once."""

    def __init__(
        self, values: np.ndarray | None = None, codes: np.ndarray | None = None, uniques: list[Any] | None = None
    ) -> None:
        self._values = values
        self._codes = codes
        self._uniques = uniques

    @property
    def values(self) -> np.ndarray:
        """Each row's value as float64."""
        if self._values is None:
            self._values = np.asarray(self.uniques, dtype="float64")[self.codes]
        return self._values

    @property
    def codes(self) -> np.ndarray:
        """Each row's code into `uniques` (int64)."""
        if self._codes is None:
            codes, uniques = pd.factorize(self.values, use_na_sentinel=False)
            self._codes, self._uniques = codes.astype("int64"), uniques.tolist()
        return self._codes

    @property
    def uniques(self) -> list[Any]:
        """The value of each code (Python objects): distinct ones, except for a numeric entry's (one per distinct
        combination of its inputs)."""
        if self._uniques is None:
            self.codes  # noqa: B018 (factorizes)
        assert self._uniques is not None
        return self._uniques

    def rows(self) -> np.ndarray:
        """Each row's value as a NumPy array of Python objects (text columns, for scikit-learn's encoders)."""
        rows: np.ndarray = np.asarray(self.uniques, dtype=object)[self.codes]
        return rows


class Batch:
    """The entries of a frame, each column computed once when first asked for."""

    def __init__(self, plan: Plan, frame: pd.DataFrame, tables: dict[str, Any]) -> None:
        self._plan = plan
        self._frame = frame
        self._tables = tables
        self._slots: list[Column | None] = [None] * (len(FIELDS) + len(plan.features))

    def __getitem__(self, name: str) -> Column:
        """An entry's column, by name."""
        return self.slot(len(FIELDS) + self._plan.names.index(name))

    def slot(self, slot: int) -> Column:
        """The column in a slot: a field of the frame, or an entry."""
        column = self._slots[slot]
        if column is None:
            column = self._field(slot) if slot < len(FIELDS) else self._entry(slot - len(FIELDS))
            self._slots[slot] = column
        return column

    def _field(self, slot: int) -> Column:
        spec = FIELDS[slot]
        values = self._frame[spec.name]
        if spec.kind == "date":
            days = values.to_numpy().astype("datetime64[D]")
            codes, uniques = pd.factorize(days.view("int64"))
            return _with_absent(codes, uniques.astype("datetime64[D]").astype(object).tolist())
        if spec.kind in NUMBER_KINDS:
            return Column(values=values.to_numpy(dtype="float64", na_value=np.nan))
        if isinstance(values.dtype, pd.CategoricalDtype):
            return _with_absent(values.cat.codes.to_numpy(), list(values.cat.categories))
        labels, distinct = pd.factorize(values)
        return _with_absent(labels, list(distinct))

    def _entry(self, position: int) -> Column:
        feature = self._plan.features[position]
        inputs = [self.slot(slot) for slot in self._plan.inputs[position]]
        compute = feature.compute
        if compute is _same:
            return inputs[0]
        if feature.learn is not None:
            compute = partial(compute, self._tables[feature.name])
        if feature.vectorised:
            values = np.asarray(compute(*(column.values for column in inputs)), dtype="float64")
            return Column(values=np.broadcast_to(values, (len(self._frame),)))
        codes, combinations = _combinations(inputs)
        results = [compute(*values) for values in combinations]
        if feature.kind != "numeric":  # text and internal values: distinct ones, as other entries group by them
            result_codes, distinct = pd.factorize(np.asarray(results, dtype=object), use_na_sentinel=False)
            return Column(codes=result_codes.astype("int64")[codes], uniques=distinct.tolist())
        return Column(codes=codes, uniques=results)


def _with_absent(codes: np.ndarray, uniques: list[Any]) -> Column:
    """A factorized column whose absent rows (code -1) get the value None."""
    codes = codes.astype("int64")
    if (codes < 0).any():
        codes = np.where(codes < 0, len(uniques), codes)
        uniques = [*uniques, None]
    return Column(codes=codes, uniques=uniques)


def _combinations(columns: list[Column]) -> tuple[np.ndarray, Iterator[tuple[Any, ...]]]:
    """Each row's code into the distinct combinations of these columns' values, and those combinations."""
    codes = columns[0].codes
    if len(columns) == 1:
        return codes, zip(columns[0].uniques)
    chosen = [np.arange(len(columns[0].uniques))]  # per distinct combination, its code in each column so far
    for column in columns[1:]:
        width = len(column.uniques)
        codes, pairs = _distinct(codes * width + column.codes, len(chosen[0]) * width)
        chosen = [*(picks[pairs // width] for picks in chosen), pairs % width]
    values = [_picked(column.uniques, picks) for column, picks in zip(columns, chosen, strict=True)]
    return codes.astype("int64"), zip(*values, strict=True)


def _distinct(codes: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Codes in 0..size-1 numbered again by the distinct ones present, and those: by a table of `size` entries
    when that is not much larger than the column (a few times faster than hashing), else as pd.factorize does."""
    if size > 4 * len(codes) + 4096:
        labels, distinct = pd.factorize(codes)
        return labels.astype("int64"), np.asarray(distinct)
    present = np.zeros(size, dtype=bool)
    present[codes] = True
    distinct = np.flatnonzero(present)
    numbers = np.zeros(size, dtype="int64")
    numbers[distinct] = np.arange(len(distinct))
    return numbers[codes], distinct


def _picked(uniques: list[Any], picks: np.ndarray) -> list[Any]:
    return [uniques[i] for i in picks.tolist()]


class Scope:
    """The columns of a training batch as one entry names its inputs: what its `learn` reads."""

    def __init__(self, batch: Batch, names: dict[str, int]) -> None:
        self._batch = batch
        self._names = names

    def __getitem__(self, name: str) -> Column:
        return self._batch.slot(self._names[name])
