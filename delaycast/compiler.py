"""Compiling a fitted delaycast pipeline (scikit-learn) into `delaycast.compiled`, and exporting it.

Training and the skops fallback use this module; a server loading `fast-path.npz`
never imports it, nor scikit-learn.
"""

from __future__ import annotations

import datetime as dt
import io
import json
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from delaycast.compiled import (
    PROBES,
    CompiledPipeline,
    CompileError,
    Forest,
    Tree,
    check_answers,
    known_category_tables,
    probe_records,
)
from delaycast.feature_names import CATEGORICAL, KEYS, NUMERIC
from delaycast.features import FlightFeatures, holiday_days
from delaycast.fields import FIELD_NAMES
from delaycast.schema import coerce_frame

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline


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
    forest = forest_of(classifier)
    compiled = CompiledPipeline(
        category_codes=_category_codes(encoder.named_transformers_["categorical"]),
        target_tables=_target_tables(encoder.named_transformers_["history"]),
        route_distance=dict(features.route_distance_),
        origin_congestion=dict(features.origin_congestion_),
        holidays=[d.toordinal() for d in holiday_days().astype(object)],
        forest=forest,
    )
    _check(compiled, estimator)
    return compiled


def forest_of(classifier: Any) -> Forest:
    """The trees of a fitted binary HistGradientBoostingClassifier (private attributes: scikit-learn is pinned)."""
    if getattr(classifier, "n_trees_per_iteration_", None) != 1:
        raise CompileError(f"{type(classifier).__name__} is not a binary HistGradientBoostingClassifier")
    known = known_category_tables(*classifier._bin_mapper.make_known_categories_bitsets())
    trees = [Tree.of(p.nodes, p.raw_left_cat_bitsets, known) for (p,) in classifier._predictors]
    return Forest(float(classifier._baseline_prediction.ravel()[0]), trees, int(classifier.n_features_in_))


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


def _check(compiled: CompiledPipeline, estimator: Pipeline) -> None:
    records = probe_records(compiled, PROBES)
    frame = coerce_frame(pd.DataFrame(records, columns=list(FIELD_NAMES)))
    if not np.array_equal(compiled.encode(frame), estimator[:-1].transform(frame), equal_nan=True):
        raise CompileError("vectorised encoding differs from the pipeline's encoder on probe records")
    check_answers(compiled, records, estimator.predict_proba(frame)[:, 1])


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
    classifier = estimator.named_steps["classifier"]
    known, f_idx_map = classifier._bin_mapper.make_known_categories_bitsets()
    arrays = {
        "document": np.frombuffer(json.dumps(document).encode(), dtype=np.uint8),
        "known_cat_bitsets": known,
        "f_idx_map": f_idx_map,
    }
    for t, (predictor,) in enumerate(classifier._predictors):
        arrays[f"nodes_{t}"] = predictor.nodes
        arrays[f"raw_left_cat_bitsets_{t}"] = predictor.raw_left_cat_bitsets
    buffer = io.BytesIO()
    np.savez(buffer, allow_pickle=False, **arrays)
    return buffer.getvalue()
