"""The trained pipeline compiled for fast scoring: one record in pure Python, or a batch vectorised.

scikit-learn spends milliseconds on one row (pandas, ColumnTransformer, a Python
loop over trees); the arithmetic is microseconds. This module reads the fitted
pipeline's tables (encoder categories, target encodings, route and congestion
lookups) and its boosted trees. One record is scored by the trees turned into
generated Python code (nested comparisons, leaf values summed in scikit-learn's
order); a batch by scikit-learn's own compiled tree predictors on an array
encoded by vectorised lookups. It reads private scikit-learn attributes, so
scikit-learn is pinned and every compiled model is checked against
`predict_proba` on probe records before it is used; any mismatch or unexpected
structure raises CompileError and the caller keeps scikit-learn's own path.

Training exports the compiled form (`export`, a NumPy archive without pickles,
carrying the probe records and scikit-learn's answers to them), so that a
server can `load` it without skops and check it against those answers.
"""

from __future__ import annotations

import bisect
import datetime as dt
import io
import json
import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy.special import expit
from sklearn.ensemble._hist_gradient_boosting.common import PREDICTOR_RECORD_DTYPE
from sklearn.ensemble._hist_gradient_boosting.predictor import TreePredictor

from delaycast.features import CATEGORICAL, HOLIDAY_WINDOW_DAYS, KEYS, NUMERIC, FlightFeatures, holiday_days
from delaycast.fields import FIELD_NAMES
from delaycast.records import Value
from delaycast.schema import coerce_frame

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

TOLERANCE = 1e-9
PROBES = 300
_FIELD = {name: i for i, name in enumerate(FIELD_NAMES)}


class CompileError(Exception):
    """The pipeline has a shape this compiler does not know, or its compiled form disagrees."""


@dataclass(frozen=True)
class Forest:
    """The boosted trees: scikit-learn's compiled tree predictors, summed as HistGradientBoosting sums them."""

    baseline: float
    predictors: list[TreePredictor]
    known_cat_bitsets: np.ndarray
    f_idx_map: np.ndarray

    @classmethod
    def of(cls, classifier: Any) -> Forest:
        """The trees of a fitted binary HistGradientBoostingClassifier."""
        if getattr(classifier, "n_trees_per_iteration_", None) != 1:
            raise CompileError(f"{type(classifier).__name__} is not a binary HistGradientBoostingClassifier")
        known_cat_bitsets, f_idx_map = classifier._bin_mapper.make_known_categories_bitsets()
        return cls(
            float(classifier._baseline_prediction.ravel()[0]),
            [predictor for (predictor,) in classifier._predictors],
            known_cat_bitsets,
            f_idx_map,
        )

    def probabilities(self, features: np.ndarray) -> np.ndarray:
        """Delay probability of each row of an encoded feature matrix, one thread."""
        array = np.ascontiguousarray(features, dtype="float64")
        raw = np.full(len(array), self.baseline)
        for predictor in self.predictors:
            raw += predictor.predict(array, self.known_cat_bitsets, self.f_idx_map, 1)
        probabilities: np.ndarray = expit(raw)
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
    raw_score: Callable[..., float]  # the forest as generated code: one positional argument per feature

    def probability(self, record: Sequence[Value]) -> float:
        """Delay probability of one validated record (FIELDS order)."""
        return 1.0 / (1.0 + math.exp(-self.raw_score(*self.features(record))))

    def features(self, record: Sequence[Value]) -> list[float]:
        """The encoded feature vector the classifier sees, in the encoder's output order."""
        carrier, flight, origin, dest = (record[_FIELD[n]] for n in ("carrier", "flight_number", "origin", "dest"))
        day = record[_FIELD["flight_date"]]
        assert isinstance(day, dt.date)
        dep = _minutes(record[_FIELD["crs_dep_time"]])
        arr = _minutes(record[_FIELD["crs_arr_time"]])
        hour = int(dep // 60)
        route = f"{origin}-{dest}"
        keys = (route, f"{carrier}{flight}", f"{origin}|{hour}", f"{carrier}|{origin}")
        distance = record[_FIELD["distance"]]
        context = record[_FIELD["origin_delay_rate_prev_day"]]
        weekday = day.weekday()
        return [
            *(
                table.get(str(code), math.nan)
                for table, code in zip(self.category_codes, (carrier, origin, dest), strict=True)
            ),
            *(table.get(key, default) for (table, default), key in zip(self.target_tables, keys, strict=True)),
            dep,
            arr,
            (arr - dep) % 1440,
            _number(distance, self.route_distance.get(route, math.nan)),
            float(weekday),
            self._days_to_holiday(day),
            self.origin_congestion.get(f"{origin}|{weekday}|{hour}", math.nan),
            _number(context, math.nan),
        ]

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
        hour = _Codes.of(dep // 60)
        days = _Codes.of(frame["flight_date"].to_numpy().astype("datetime64[D]"))
        unique_days = [dt.date.fromisoformat(str(day)) for day in days.texts]
        weekday = days.map([float(day.weekday()) for day in unique_days])
        route = origin.pair(dest, "-")
        distance = frame["distance"].to_numpy(dtype="float64", copy=True)
        absent = np.isnan(distance)
        if absent.any():
            distance[absent] = route.lookup(self.route_distance, math.nan)[absent]
        keys = (route, carrier.pair(_Codes.of(frame["flight_number"]), ""), origin.pair(hour, "|"))
        return np.column_stack(
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
                days.map([self._days_to_holiday(day) for day in unique_days]),
                origin.pair(_Codes.of(weekday), "|").pair(hour, "|").lookup(self.origin_congestion, math.nan),
                frame["origin_delay_rate_prev_day"].to_numpy(dtype="float64"),
            ]
        )

    def _days_to_holiday(self, day: dt.date) -> float:
        ordinal = day.toordinal()
        after = bisect.bisect_left(self.holidays, ordinal)
        next_gap = self.holidays[min(after, len(self.holidays) - 1)] - ordinal
        prev_gap = ordinal - self.holidays[max(after - 1, 0)]
        signed = next_gap if next_gap < prev_gap else -prev_gap
        return float(max(-HOLIDAY_WINDOW_DAYS, min(HOLIDAY_WINDOW_DAYS, signed)))


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
    values = hhmm.to_numpy(dtype="float64")
    minutes: np.ndarray = (values // 100) * 60 + values % 100
    return minutes


def _number(value: Value, default: float) -> float:
    return float(value) if isinstance(value, int | float) else default


def _minutes(hhmm: Value) -> float:
    value = _number(hhmm, math.nan)
    return (value // 100) * 60 + value % 100


def compile_pipeline(estimator: Pipeline) -> CompiledPipeline:
    """Compile a fitted delaycast pipeline and check it against scikit-learn; raises CompileError."""
    try:
        features, encoder, classifier = (estimator.named_steps[n] for n in ("features", "encode", "classifier"))
    except KeyError as missing:
        raise CompileError(f"pipeline has no step {missing}") from None
    if not isinstance(features, FlightFeatures):
        raise CompileError(f"first step is {type(features).__name__}, not FlightFeatures")
    expected = [*CATEGORICAL, *KEYS, *NUMERIC]
    if list(encoder.get_feature_names_out()) != expected:
        raise CompileError("encoder output columns differ from the compiler's")
    forest = Forest.of(classifier)
    compiled = CompiledPipeline(
        category_codes=_category_codes(encoder.named_transformers_["categorical"]),
        target_tables=_target_tables(encoder.named_transformers_["history"]),
        route_distance=dict(features.route_distance_),
        origin_congestion=dict(features.origin_congestion_),
        holidays=[d.toordinal() for d in holiday_days().astype(object)],
        forest=forest,
        raw_score=_compile_trees(forest),
    )
    _check(compiled, estimator)
    return compiled


def _category_codes(ordinal: Any) -> tuple[dict[str, float], ...]:
    """Each categorical column's category -> code, exactly as the fitted OrdinalEncoder assigns them."""
    columns = list(ordinal.feature_names_in_)
    width = max(len(c) for c in ordinal.categories_)
    frame = pd.DataFrame(
        {
            name: list(cats) + [cats[0]] * (width - len(cats))
            for name, cats in zip(columns, ordinal.categories_, strict=True)
        }
    )
    codes = ordinal.transform(frame)
    return tuple(
        {str(cat): float(code) for cat, code in zip(cats, codes[: len(cats), i], strict=True)}
        for i, cats in enumerate(ordinal.categories_)
    )


def _target_tables(encoder: Any) -> tuple[tuple[dict[str, float], float], ...]:
    if encoder.target_type_ != "binary":
        raise CompileError(f"target encoder is {encoder.target_type_}, not binary")
    default = float(encoder.target_mean_)
    return tuple(
        ({str(c): float(v) for c, v in zip(cats, values, strict=True)}, default)
        for cats, values in zip(encoder.categories_, encoder.encodings_, strict=True)
    )


def _compile_trees(forest: Forest) -> Callable[..., float]:
    """One generated function of the features (x0, x1...): baseline plus every tree's leaf, in scikit-learn's order.

    Features arrive as arguments, so each comparison reads a local variable.
    """
    namespace: dict[str, Any] = {"nan_": math.nan}
    arguments = ", ".join(f"x{i}" for i in range(len(forest.f_idx_map)))
    lines = [f"def raw_score({arguments}):", f"    s = {forest.baseline!r}"]
    for t, predictor in enumerate(forest.predictors):
        _emit(predictor, 0, 1, lines, namespace, f"t{t}", forest.known_cat_bitsets, forest.f_idx_map)
    lines.append("    return s")
    exec(
        compile("\n".join(lines), "<delaycast-compiled-trees>", "exec"), namespace
    )  # code generated from the verified model
    raw_score: Callable[..., float] = namespace["raw_score"]
    return raw_score


def _emit(
    predictor: Any,
    node_id: int,
    depth: int,
    lines: list[str],
    namespace: dict[str, Any],
    tag: str,
    known_bitsets: np.ndarray,
    feature_map: np.ndarray,
) -> None:
    node = predictor.nodes[node_id]
    pad = "    " * depth
    if node["is_leaf"]:
        lines.append(f"{pad}s += {float(node['value'])!r}")
        return
    feature = int(node["feature_idx"])
    v = f"x{feature}"
    missing_left = bool(node["missing_go_to_left"])
    if node["is_categorical"]:
        left = _bitset_members(predictor.raw_left_cat_bitsets[node["bitset_idx"]])
        known = _bitset_members(known_bitsets[feature_map[feature]])
        left_name, known_name = f"L_{tag}_{node_id}", f"K_{tag}_{node_id}"
        namespace[left_name], namespace[known_name] = left, known
        missing = f"({v} != {v} or int({v}) not in {known_name})"
        taken = (
            f"({missing} or int({v}) in {left_name})"
            if missing_left
            else f"(not {missing} and int({v}) in {left_name})"
        )
    else:
        threshold = float(node["num_threshold"])
        taken = f"not ({v} > {threshold!r})" if missing_left else f"{v} <= {threshold!r}"
    lines.append(f"{pad}if {taken}:")
    _emit(predictor, int(node["left"]), depth + 1, lines, namespace, tag, known_bitsets, feature_map)
    lines.append(f"{pad}else:")
    _emit(predictor, int(node["right"]), depth + 1, lines, namespace, tag, known_bitsets, feature_map)


def _bitset_members(bitset: np.ndarray) -> frozenset[int]:
    """The categories a bitset holds: bit c % 32 of 32-bit word c // 32."""
    bits = np.unpackbits(np.asarray(bitset, dtype="<u4").view(np.uint8), bitorder="little")
    return frozenset(np.flatnonzero(bits).tolist())


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


def _check(compiled: CompiledPipeline, estimator: Pipeline) -> None:
    records = probe_records(compiled, PROBES)
    frame = coerce_frame(pd.DataFrame(records, columns=list(FIELD_NAMES)))
    if not np.array_equal(compiled.encode(frame), estimator[:-1].transform(frame), equal_nan=True):
        raise CompileError("vectorised encoding differs from the pipeline's encoder on probe records")
    _compare(compiled, records, estimator.predict_proba(frame)[:, 1])


def _compare(compiled: CompiledPipeline, records: list[tuple[Value, ...]], expected: np.ndarray) -> None:
    """Both scoring paths give scikit-learn's probabilities of the probe records, within TOLERANCE."""
    frame = coerce_frame(pd.DataFrame(records, columns=list(FIELD_NAMES)))
    for path, actual in (
        ("one record at a time", np.array([compiled.probability(r) for r in records])),
        ("batch", compiled.batch_probabilities(frame)),
    ):
        worst = float(np.max(np.abs(actual - expected)))
        if not worst <= TOLERANCE:
            raise CompileError(f"compiled model ({path}) differs from scikit-learn by {worst:.3g} on probe records")


def export(compiled: CompiledPipeline, estimator: Pipeline) -> bytes:
    """The compiled pipeline as a NumPy archive (no pickles), with probe records and scikit-learn's answers."""
    records = probe_records(compiled, PROBES)
    expected = estimator.predict_proba(coerce_frame(pd.DataFrame(records, columns=list(FIELD_NAMES))))[:, 1]
    document = {
        "category_codes": compiled.category_codes,
        "target_tables": compiled.target_tables,
        "route_distance": compiled.route_distance,
        "origin_congestion": compiled.origin_congestion,
        "holidays": compiled.holidays,
        "baseline": compiled.forest.baseline,
        "probe_records": [[v.isoformat() if isinstance(v, dt.date) else v for v in r] for r in records],
        "probe_probabilities": expected.tolist(),
    }
    arrays = {
        "document": np.frombuffer(json.dumps(document).encode(), dtype=np.uint8),
        "known_cat_bitsets": compiled.forest.known_cat_bitsets,
        "f_idx_map": compiled.forest.f_idx_map,
    }
    for t, predictor in enumerate(compiled.forest.predictors):
        arrays[f"nodes_{t}"] = predictor.nodes
        arrays[f"binned_left_cat_bitsets_{t}"] = predictor.binned_left_cat_bitsets
        arrays[f"raw_left_cat_bitsets_{t}"] = predictor.raw_left_cat_bitsets
    buffer = io.BytesIO()
    np.savez(buffer, allow_pickle=False, **arrays)
    return buffer.getvalue()


def load(data: bytes) -> CompiledPipeline:
    """A compiled pipeline from `export`, checked against the scikit-learn answers it carries; raises CompileError."""
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
        document = json.loads(arrays.pop("document").tobytes())
        forest = Forest(
            float(document["baseline"]),
            [_predictor(arrays, t) for t in range(sum(name.startswith("nodes_") for name in arrays))],
            arrays["known_cat_bitsets"],
            arrays["f_idx_map"],
        )
        compiled = CompiledPipeline(
            category_codes=tuple(document["category_codes"]),
            target_tables=tuple((table, float(default)) for table, default in document["target_tables"]),
            route_distance=document["route_distance"],
            origin_congestion=document["origin_congestion"],
            holidays=list(document["holidays"]),
            forest=forest,
            raw_score=_compile_trees(forest),
        )
        records = [_probe_record(values) for values in document["probe_records"]]
        expected = np.asarray(document["probe_probabilities"], dtype="float64")
    except CompileError:
        raise
    except Exception as error:  # a damaged or foreign archive fails in many ways
        raise CompileError(f"not a compiled delaycast pipeline ({type(error).__name__}: {error})") from None
    _compare(compiled, records, expected)
    return compiled


def _predictor(arrays: dict[str, np.ndarray], tree: int) -> TreePredictor:
    nodes = arrays[f"nodes_{tree}"]
    if nodes.dtype != PREDICTOR_RECORD_DTYPE:
        raise CompileError(f"tree {tree}: node layout differs from this scikit-learn's")
    return TreePredictor(nodes, arrays[f"binned_left_cat_bitsets_{tree}"], arrays[f"raw_left_cat_bitsets_{tree}"])


def _probe_record(values: list[Any]) -> tuple[Value, ...]:
    day = _FIELD["flight_date"]
    return tuple(dt.date.fromisoformat(v) if i == day else v for i, v in enumerate(values))
