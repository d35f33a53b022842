"""The trained pipeline compiled for fast scoring: one record in C (features and trees), or a batch vectorised.

scikit-learn spends milliseconds on one row (pandas, ColumnTransformer, a Python
loop over trees); the arithmetic is microseconds. This module reads the fitted
pipeline's tables (encoder categories, target encodings, route and congestion
lookups) and its boosted trees. One record is scored in C, features and trees
(`delaycast._native_forest`, leaf values summed in scikit-learn's order); a
batch by the same trees in NumPy (rows split node by node) on an array encoded
by vectorised lookups. It reads private scikit-learn attributes, so
scikit-learn is pinned and every compiled model is checked against
`predict_proba` on probe records before it is used; any mismatch or unexpected
structure raises CompileError and the caller keeps scikit-learn's own path.

Training exports the compiled form (`export`, a NumPy archive without pickles,
carrying the probe records and scikit-learn's answers to them), so that a
server can `load` it without skops and check it against those answers.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from delaycast.feature_names import CATEGORICAL, HOLIDAY_WINDOW_DAYS
from delaycast.fields import FIELD_NAMES
from delaycast.records import Record, Value
from delaycast.schema import coerce_frame, hhmm_parts

if TYPE_CHECKING:
    from delaycast._native_forest import NativePipeline

TOLERANCE = 1e-9
PROBES = 300
_FIELD = {name: i for i, name in enumerate(FIELD_NAMES)}


class CompileError(Exception):
    """The pipeline has a shape this compiler does not know, or its compiled form disagrees."""


NODE_FIELDS = (
    "value",
    "feature_idx",
    "num_threshold",
    "missing_go_to_left",
    "left",
    "right",
    "is_leaf",
    "is_categorical",
    "bitset_idx",
)


@dataclass(frozen=True)
class Node:
    """One node of a boosted tree, as HistGradientBoosting decides: numeric threshold or category set."""

    leaf: bool
    value: float
    feature: int
    threshold: float
    missing_left: bool
    left: int
    right: int
    left_categories: np.ndarray | None  # 256 booleans, for a categorical split
    known_categories: np.ndarray | None  # 256 booleans: the categories seen in training

    def goes_left(self, values: np.ndarray) -> np.ndarray:
        """Which of these feature values take the left branch (a missing value goes where training sent it)."""
        if self.left_categories is None or self.known_categories is None:
            return ~(values > self.threshold) if self.missing_left else values <= self.threshold
        absent = np.isnan(values) | (values < 0) | (values > 255)
        codes = np.where(absent, 0, values).astype(np.intp)
        missing = absent | ~self.known_categories[codes]
        chosen = self.left_categories[codes]
        taken: np.ndarray = missing | chosen if self.missing_left else ~missing & chosen
        return taken


@dataclass(frozen=True)
class Tree:
    """A boosted tree: its nodes, root first."""

    nodes: list[Node]

    @classmethod
    def of(cls, nodes: np.ndarray, left_bitsets: np.ndarray, known: Sequence[np.ndarray]) -> Tree:
        """A tree from HistGradientBoosting's node records, its left-category bitsets (8 x 32 bits per set) and
        each feature's known categories (`known_category_tables`)."""
        missing = [name for name in NODE_FIELDS if name not in (nodes.dtype.names or ())]
        if missing:
            raise CompileError(f"tree nodes lack {', '.join(missing)}")
        built = []
        for record in nodes.tolist():
            node = dict(zip(nodes.dtype.names or (), record, strict=True))
            categorical = bool(node["is_categorical"]) and not node["is_leaf"]
            feature = int(node["feature_idx"])
            built.append(
                Node(
                    leaf=bool(node["is_leaf"]),
                    value=float(node["value"]),
                    feature=feature,
                    threshold=float(node["num_threshold"]),
                    missing_left=bool(node["missing_go_to_left"]),
                    left=int(node["left"]),
                    right=int(node["right"]),
                    left_categories=_bitset_table(left_bitsets[node["bitset_idx"]]) if categorical else None,
                    known_categories=known[feature] if categorical else None,
                )
            )
        return cls(built)

    def leaf_values(self, columns: Sequence[np.ndarray]) -> np.ndarray:
        """The leaf value each row reaches: rows are split node by node, each node sees only its own rows."""
        values = np.empty(len(columns[0]))
        pending = [(0, np.arange(len(values)))]
        while pending:
            index, rows = pending.pop()
            node = self.nodes[index]
            if node.leaf:
                values[rows] = node.value
                continue
            left = node.goes_left(columns[node.feature][rows])
            for child, subset in ((node.left, rows[left]), (node.right, rows[~left])):
                if len(subset):
                    pending.append((child, subset))
        return values


@dataclass(frozen=True)
class Forest:
    """The boosted trees and their baseline, summed as HistGradientBoosting sums them, in NumPy."""

    baseline: float
    trees: list[Tree]
    n_features: int

    def probabilities(self, features: np.ndarray) -> np.ndarray:
        """Delay probability of each row of an encoded feature matrix."""
        columns = [np.ascontiguousarray(features[:, j], dtype="float64") for j in range(features.shape[1])]
        raw = np.full(len(features), self.baseline)
        for tree in self.trees:
            raw += tree.leaf_values(columns)
        probabilities: np.ndarray = 1.0 / (1.0 + np.exp(-raw))
        return probabilities


@dataclass(frozen=True)
class CompiledPipeline:
    """Lookup tables and tree code equal to the fitted pipeline's `predict_proba`, for one record or a batch."""

    category_codes: tuple[dict[str, float], ...]
    target_tables: tuple[tuple[dict[str, float], float], ...]
    route_distance: dict[str, float]
    origin_congestion: dict[str, float]
    holidays: list[int]
    forest: Forest
    native: NativePipeline = field(init=False, repr=False, compare=False)  # the single-record path, in C

    def __post_init__(self) -> None:
        object.__setattr__(self, "native", native_pipeline(self))

    def probability(self, record: Record) -> float:
        """Delay probability of one validated record (FIELDS order)."""
        return self.native.probability(record)

    def batch_probabilities(self, frame: pd.DataFrame) -> np.ndarray:
        """Delay probabilities of a frame from `coerce_frame`: vectorised encoding, then the classifier."""
        return self.forest.probabilities(self.encode(frame))

    def encode(self, frame: pd.DataFrame) -> np.ndarray:
        """The encoded feature matrix of a frame from `coerce_frame`, as the pipeline's encoder builds it.

        Vectorised: every lookup runs once per distinct value (or pair of values), never once per row.
        """
        carrier, origin, dest = (_Codes.of(frame[name]) for name in CATEGORICAL)
        dep = _minutes_array(frame["crs_dep_time"])
        arr = _minutes_array(frame["crs_arr_time"])
        hour = _Codes.of(np.floor(dep / 60))
        days = _Codes.of(frame["flight_date"].to_numpy().astype("datetime64[D]"))
        unique_days = [dt.date.fromisoformat(str(day)) for day in days.texts]
        weekday = days.map([float(day.weekday()) for day in unique_days])
        route = origin.pair(dest, "-")
        distance = frame["distance"].to_numpy(dtype="float64", copy=True)
        absent = np.isnan(distance)
        if absent.any():
            distance[absent] = route.lookup(self.route_distance, math.nan)[absent]
        keys = (route, carrier.pair(_Codes.of(frame["flight_number"]), ""), origin.pair(hour, "|"))
        # Built column by column (Fortran order): the trees read it by column, without a copy.
        return np.array(
            [
                *(
                    codes.lookup(table, math.nan)
                    for codes, table in zip((carrier, origin, dest), self.category_codes, strict=True)
                ),
                *(
                    codes.lookup(table, default)
                    for codes, (table, default) in zip(
                        (*keys, carrier.pair(origin, "|")), self.target_tables, strict=True
                    )
                ),
                dep,
                arr,
                np.mod(arr - dep, 1440),
                distance,
                weekday,
                days.map([self.native.days_to_holiday(day) for day in unique_days]),
                origin.pair(_Codes.of(weekday), "|").pair(hour, "|").lookup(self.origin_congestion, math.nan),
                frame["origin_delay_rate_prev_day"].to_numpy(dtype="float64"),
            ],
            dtype="float64",
        ).T


@dataclass(frozen=True)
class _Codes:
    """A column as integer codes into its distinct values, written as the features' key texts."""

    codes: np.ndarray
    texts: list[str]

    @classmethod
    def of(cls, values: pd.Series | np.ndarray) -> _Codes:
        """Codes of a column without missing values; whole floats are written as integers (1545.0 -> "1545")."""
        codes, uniques = pd.factorize(values)
        return cls(codes.astype("int64"), [_key_text(value) for value in np.asarray(uniques).tolist()])

    def pair(self, other: _Codes, sep: str) -> _Codes:
        """Row-wise `self + sep + other`, written once per distinct pair."""
        codes, pairs = pd.factorize(self.codes * len(other.texts) + other.codes)
        width = len(other.texts)
        texts = [f"{self.texts[pair // width]}{sep}{other.texts[pair % width]}" for pair in pairs.tolist()]
        return _Codes(codes.astype("int64"), texts)

    def lookup(self, table: dict[str, float], default: float) -> np.ndarray:
        """Each row's value in `table`, `default` where absent."""
        return self.map([table.get(text, default) for text in self.texts])

    def map(self, values: list[float]) -> np.ndarray:
        """Each row's entry of `values`, one per distinct value."""
        mapped: np.ndarray = np.asarray(values, dtype="float64")[self.codes]
        return mapped


def _key_text(value: object) -> str:
    if isinstance(value, float):
        return str(int(value))
    return str(value)


def _minutes_array(hhmm: pd.Series) -> np.ndarray:
    """Minutes past midnight of validated HHMM times."""
    hours, minutes = hhmm_parts(hhmm.to_numpy(dtype="float64"))
    total: np.ndarray = hours * 60 + minutes
    return total


def native_pipeline(compiled: CompiledPipeline) -> NativePipeline:
    """The pipeline's single-record path in C; raises CompileError when the extension is not built (`make venv`
    builds it) or refuses the pipeline."""
    try:
        from delaycast._native_forest import NativeForest, NativePipeline
    except ImportError as error:
        raise CompileError(f"the native scorer is not built ({error})") from None
    try:
        return NativePipeline(
            compiled.category_codes,
            compiled.target_tables,
            compiled.route_distance,
            compiled.origin_congestion,
            compiled.holidays,
            HOLIDAY_WINDOW_DAYS,
            NativeForest(compiled.forest),
        )
    except ValueError as error:
        raise CompileError(str(error)) from None


def known_category_tables(known_bitsets: np.ndarray, f_idx_map: np.ndarray) -> list[np.ndarray]:
    """Each feature's known categories as 256 booleans (all False for a numeric feature)."""
    none = np.zeros(256, dtype=bool)
    return [_bitset_table(known_bitsets[row]) if len(known_bitsets) else none for row in f_idx_map.tolist()]


def _bitset_table(bitset: np.ndarray) -> np.ndarray:
    """The 256 categories' membership of a bitset: bit c % 32 of 32-bit word c // 32."""
    table: np.ndarray = np.unpackbits(np.asarray(bitset, dtype="<u4").view(np.uint8), bitorder="little").astype(bool)
    return table


def probe_records(compiled: CompiledPipeline, count: int, seed: int = 0) -> list[tuple[Value, ...]]:
    """Records that exercise known and unknown codes, missing optional fields and many dates and times."""
    rng = random.Random(seed)
    carriers, origins, dests = (sorted(table) or ["UA"] for table in compiled.category_codes)
    records: list[tuple[Value, ...]] = []
    for i in range(count):
        day = dt.date(2010, 1, 1) + dt.timedelta(days=rng.randrange(365 * 15))
        records.append(
            (
                rng.choice(carriers) if i % 7 else "ZZ",
                rng.randrange(1, 10000),
                rng.choice(origins) if i % 11 else "QQQ",
                rng.choice(dests),
                day,
                rng.randrange(0, 24) * 100 + rng.randrange(0, 60),
                None if i % 3 == 0 else rng.randrange(0, 24) * 100 + rng.randrange(0, 60),
                None if i % 2 == 0 else float(rng.randrange(50, 5000)),
                None if i % 4 == 0 else rng.random(),
            )
        )
    return records


def check_answers(compiled: CompiledPipeline, records: list[tuple[Value, ...]], expected: np.ndarray) -> None:
    """Both scoring paths give scikit-learn's probabilities of the probe records, within TOLERANCE."""
    frame = coerce_frame(pd.DataFrame(records, columns=list(FIELD_NAMES)))
    for path, actual in (
        ("one record at a time", np.array([compiled.probability(r) for r in records])),
        ("batch", compiled.batch_probabilities(frame)),
    ):
        worst = float(np.max(np.abs(actual - expected)))
        if not worst <= TOLERANCE:
            raise CompileError(f"compiled model ({path}) differs from scikit-learn by {worst:.3g} on probe records")


def load(data: bytes) -> CompiledPipeline:
    """A compiled pipeline from `export`, checked against the scikit-learn answers it carries; raises CompileError."""
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
        document = json.loads(arrays.pop("document").tobytes())
        f_idx_map = arrays["f_idx_map"]
        known = known_category_tables(arrays["known_cat_bitsets"], f_idx_map)
        trees = [
            Tree.of(arrays[f"nodes_{t}"], arrays[f"raw_left_cat_bitsets_{t}"], known)
            for t in range(sum(name.startswith("nodes_") for name in arrays))
        ]
        forest = Forest(float(document["baseline"]), trees, len(f_idx_map))
        compiled = CompiledPipeline(
            category_codes=tuple(document["category_codes"]),
            target_tables=tuple((table, float(default)) for table, default in document["target_tables"]),
            route_distance=document["route_distance"],
            origin_congestion=document["origin_congestion"],
            holidays=list(document["holidays"]),
            forest=forest,
        )
        records = [_probe_record(values) for values in document["probe_records"]]
        expected = np.asarray(document["probe_probabilities"], dtype="float64")
    except CompileError:
        raise
    except Exception as error:  # a damaged or foreign archive fails in many ways
        raise CompileError(f"not a compiled delaycast pipeline ({type(error).__name__}: {error})") from None
    check_answers(compiled, records, expected)
    return compiled


def _probe_record(values: list[Any]) -> tuple[Value, ...]:
    day = _FIELD["flight_date"]
    return tuple(dt.date.fromisoformat(v) if i == day else v for i, v in enumerate(values))
