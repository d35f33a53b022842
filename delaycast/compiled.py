"""The trained pipeline compiled for fast scoring, without scikit-learn: its features, encoder tables and trees.

scikit-learn spends milliseconds on one row (pandas, ColumnTransformer, a Python
loop over trees); the arithmetic is microseconds. This module takes the fitted
pipeline's feature list and learned tables (`delaycast.features`, the one
definition of every feature), its encoder tables (category codes, target
encodings) and its boosted trees. One record's features are computed in Python
from those definitions, a batch's once per distinct value (`Plan.batch`); the
encoded rows are scored by the trees in C (`delaycast._native_forest.NativeForest`,
leaf values summed in scikit-learn's order). It reads private scikit-learn
attributes, so scikit-learn is pinned and every compiled model is checked
against `predict_proba` on probe records before it is used; any mismatch or
unexpected structure raises CompileError and the caller keeps scikit-learn's
own path.

Training exports the compiled form (`delaycast.compiler.export`, a NumPy archive
without pickles, carrying the feature names, the probe records and
scikit-learn's answers to them), so that a server can `load` it without skops
and check it against those answers.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from delaycast.features import Plan, UnknownFeature
from delaycast.fields import FIELD_NAMES, FIELDS, Field, Value
from delaycast.records import Record
from delaycast.schema import coerce_frame

if TYPE_CHECKING:
    from delaycast._native_forest import NativeForest

TOLERANCE = 1e-9
PROBES = 300
Encoding = tuple[dict[str, float], float]  # value -> category code or target encoding, and the default


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


@dataclass(frozen=True)
class Forest:
    """The boosted trees and their baseline, as loaded: `NativeForest` scores with them."""

    baseline: float
    trees: list[Tree]
    n_features: int


@dataclass(frozen=True)
class CompiledPipeline:
    """Features, encoder tables and trees equal to the fitted pipeline's `predict_proba`, for a record or a batch."""

    features: tuple[str, ...]  # the entries of delaycast.features the fitted step computes, in order
    tables: dict[str, Any]  # each learning entry's table, by entry name
    encodings: dict[str, Encoding]  # each categorical and key entry's encoder table, by entry name
    forest: Forest
    plan: Plan = field(init=False, repr=False, compare=False)
    trees: NativeForest = field(init=False, repr=False, compare=False)  # the trees in C
    _encoded: Callable[[Sequence[Value]], list[float]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        try:
            plan = Plan.of(self.features)
        except UnknownFeature as error:
            raise CompileError(str(error)) from None
        encoded = [*plan.of_kind("categorical"), *plan.of_kind("key")]
        if sorted(encoded) != sorted(self.encodings):
            raise CompileError(f"encoder tables for {sorted(self.encodings)}, the features encode {sorted(encoded)}")
        missing = sorted({f.name for f in plan.features if f.learn is not None} - set(self.tables))
        if missing:
            raise CompileError(f"no learned table for {', '.join(missing)}")
        if self.forest.n_features != len(plan.outputs):
            raise CompileError(
                f"the forest takes {self.forest.n_features} features, the pipeline makes {len(plan.outputs)}"
            )
        object.__setattr__(self, "plan", plan)
        object.__setattr__(self, "trees", native_forest(self.forest))
        object.__setattr__(self, "_encoded", plan.record(self.tables, self.encodings))

    def probability(self, record: Record) -> float:
        """Delay probability of one validated record (FIELDS order)."""
        return self.trees.probability(self.encode_record(record))

    def encode_record(self, record: Record) -> list[float]:
        """The encoded feature vector of one validated record (FIELDS order), as the pipeline's encoder builds it."""
        return self._encoded(record)

    def batch_probabilities(self, frame: pd.DataFrame) -> np.ndarray:
        """Delay probabilities of a frame from `coerce_frame`: its encoded matrix scored by the trees in C."""
        return self.trees.probabilities(self.encode(frame))

    def encode(self, frame: pd.DataFrame) -> np.ndarray:
        """The encoded feature matrix of a frame from `coerce_frame`, as the pipeline's encoder builds it.

        Every text feature and lookup is computed once per distinct combination of its inputs, never once per row.
        """
        batch = self.plan.batch(frame, self.tables)
        matrix = np.empty((len(frame), len(self.plan.outputs)), dtype="float64", order="F")
        for j, name in enumerate(self.plan.outputs):
            column = batch[name]
            if name in self.encodings:
                table, default = self.encodings[name]
                matrix[:, j] = np.asarray([table.get(v, default) for v in column.uniques], dtype="float64")[
                    column.codes
                ]
            else:
                matrix[:, j] = column.values
        return matrix


def native_forest(forest: Forest) -> NativeForest:
    """The trees in C; raises CompileError when the extension is not built (`make venv` builds it) or refuses them."""
    try:
        from delaycast._native_forest import NativeForest
    except ImportError as error:
        raise CompileError(f"the native scorer is not built ({error})") from None
    try:
        return NativeForest(forest)
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
    return [tuple(_probe_value(spec, i, compiled, rng) for spec in FIELDS) for i in range(count)]


def _probe_value(spec: Field, i: int, compiled: CompiledPipeline, rng: random.Random) -> Value:
    """A value of one field: absent in some records (an optional field), else drawn by the field's kind."""
    if not spec.required and i % (2 + FIELDS.index(spec) % 3) == 0:
        return None
    low = 0.0 if spec.low is None else spec.low
    high = low + 5000.0 if spec.high is None else spec.high
    if spec.kind in ("carrier", "airport"):
        known = sorted(compiled.encodings.get(spec.name, ({}, math.nan))[0])
        unknown = "ZZ" if spec.kind == "carrier" else "QQQ"
        return rng.choice(known) if known and i % (7 + FIELDS.index(spec)) else unknown
    if spec.kind == "date":
        return dt.date(2010, 1, 1) + dt.timedelta(days=rng.randrange(365 * 15))
    if spec.kind == "hhmm":
        return rng.randrange(0, 24) * 100 + rng.randrange(0, 60)
    if spec.kind == "int":
        return rng.randrange(math.ceil(low), math.floor(high) + 1)
    return rng.uniform(low, high)


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
        compiled = CompiledPipeline(
            features=tuple(document["features"]),
            tables=document["tables"],
            encodings={name: (table, float(default)) for name, (table, default) in document["encodings"].items()},
            forest=Forest(float(document["baseline"]), trees, len(f_idx_map)),
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
    """A probe record as `export` wrote it (dates as ISO text)."""
    return tuple(
        dt.date.fromisoformat(v) if spec.kind == "date" and v is not None else v
        for spec, v in zip(FIELDS, values, strict=True)
    )
