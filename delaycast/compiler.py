"""Compiling a fitted delaycast pipeline (scikit-learn) into `delaycast.compiled`, and exporting it.

Training and the skops fallback use this module; a server loading `compiled.npz`
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
    Encoding,
    Forest,
    Tree,
    check_answers,
    known_category_tables,
    probe_records,
)
from delaycast.features import Plan, UnknownFeature
from delaycast.fields import FIELD_NAMES
from delaycast.schema import coerce_frame
from delaycast.transformer import FlightFeatures

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline


def compile_pipeline(estimator: Pipeline) -> CompiledPipeline:
    """Compile a fitted delaycast pipeline and check it against scikit-learn; raises CompileError."""
    try:
        features, encoder, classifier = (estimator.named_steps[n] for n in ("features", "encode", "classifier"))
    except (KeyError, AttributeError) as missing:
        raise CompileError(f"pipeline has no step {missing}") from None
    if not isinstance(features, FlightFeatures) or not hasattr(features, "features_"):
        raise CompileError(f"first step is {type(features).__name__}, not a fitted FlightFeatures")
    try:
        plan = Plan.of(features.features_)
    except UnknownFeature as error:
        raise CompileError(str(error)) from None
    if list(encoder.get_feature_names_out()) != plan.outputs:
        raise CompileError("encoder output columns differ from the features'")
    categorical, history = (encoder.named_transformers_.get(n) for n in ("categorical", "history"))
    encodings = {**_category_codes(categorical, plan), **_target_encodings(history, plan)}
    compiled = CompiledPipeline(
        features=plan.names, tables=dict(features.tables_), encodings=encodings, forest=forest_of(classifier)
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


def _columns(encoder: Any, plan: Plan, kind: str) -> list[str]:
    """The columns an encoder of the ColumnTransformer takes, checked to be the features of one kind."""
    names = plan.of_kind(kind)
    if names and list(getattr(encoder, "feature_names_in_", [])) != names:
        raise CompileError(f"the {kind} features {names} are not what the encoder's {kind} step takes")
    return names


def _category_codes(ordinal: Any, plan: Plan) -> dict[str, Encoding]:
    """Each categorical feature's category -> code, exactly as the fitted OrdinalEncoder assigns them."""
    names = _columns(ordinal, plan, "categorical")
    if not names:
        return {}
    width = max(len(c) for c in ordinal.categories_)
    frame = pd.DataFrame(
        {
            name: list(cats) + [cats[0]] * (width - len(cats))
            for name, cats in zip(names, ordinal.categories_, strict=True)
        }
    )
    codes = ordinal.transform(frame)
    return {
        name: ({str(cat): float(code) for cat, code in zip(cats, codes[: len(cats), i], strict=True)}, float("nan"))
        for i, (name, cats) in enumerate(zip(names, ordinal.categories_, strict=True))
    }


def _target_encodings(encoder: Any, plan: Plan) -> dict[str, Encoding]:
    """Each key feature's value -> target encoding, and the training mean for a value it did not see."""
    names = _columns(encoder, plan, "key")
    if not names:
        return {}
    if encoder.target_type_ != "binary":
        raise CompileError(f"target encoder is {encoder.target_type_}, not binary")
    default = float(encoder.target_mean_)
    return {
        name: ({str(c): float(v) for c, v in zip(cats, values, strict=True)}, default)
        for name, cats, values in zip(names, encoder.categories_, encoder.encodings_, strict=True)
    }


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
        "features": list(compiled.features),
        "tables": compiled.tables,
        "encodings": compiled.encodings,
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
