"""The feature table (`delaycast.features`) as the first step of the scikit-learn pipeline.

Training fits it and skops saves it (its state is the entries' names and their learned tables, plain
lists and dicts); the skops fallback of a server loads it. A server scoring with the compiled archive
never imports this module, nor scikit-learn.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

from delaycast.features import Plan, feature_names


class FlightFeatures(TransformerMixin, BaseEstimator):  # type: ignore[misc]
    """Canonical flight records (`delaycast.schema.coerce_frame`) -> a frame of categorical, key and numeric features.

    `fit` records the entries of the feature table and learns their tables (route distances, scheduled
    congestion, holidays) from the training data, so callers send raw flight fields only.
    """

    def __init__(self, features: Sequence[str] | None = None) -> None:
        self.features = features  # the entries of the table to compute; None: all of them

    def fit(self, X: pd.DataFrame, y: Any = None) -> FlightFeatures:
        """Record the entries to compute and learn their tables from the training frame."""
        self.features_ = list(feature_names() if self.features is None else self.features)
        self.tables_ = Plan.of(self.features_).learn(X)
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        """The features of each record: text for categorical and key entries, float64 for numeric ones."""
        plan = Plan.of(self.features_)
        batch = plan.batch(X, self.tables_)
        numeric = set(plan.of_kind("numeric"))
        return pd.DataFrame(
            {name: batch[name].values if name in numeric else batch[name].rows() for name in plan.outputs},
            index=X.index,
        )

    def names_of(self, kind: str) -> list[str]:
        """The fitted step's features of one kind (categorical, key, numeric), in the encoder's order."""
        return Plan.of(self.features_).of_kind(kind)

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """Names of the columns `transform` returns."""
        return np.asarray(Plan.of(self.features_).outputs, dtype=object)
