"""The delay classifier and its two baselines, all taking canonical flight records."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.dummy import DummyClassifier
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import KFold
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler, TargetEncoder

from delaycast import features as feature_table
from delaycast.context import CONTEXT_FIELDS
from delaycast.fields import FIELD_NAMES
from delaycast.transformer import FlightFeatures
from train.config import TrainingConfig

DELAY_MINUTES = 15.0


def delay_labels(frame: pd.DataFrame, disrupted_flights: str) -> tuple[np.ndarray, np.ndarray]:
    """Label 1 = arrived 15+ minutes late; returns (labels, rows kept).

    Cancelled and diverted flights have no arrival delay. With "delay" they count
    as delayed (the passenger did not arrive on time); with "drop" they are left out.
    """
    disrupted = (frame["cancelled"].to_numpy() > 0) | (frame["diverted"].to_numpy() > 0)
    arr_delay = frame["arr_delay"].to_numpy()
    late = arr_delay >= DELAY_MINUTES
    if disrupted_flights == "delay":
        keep = disrupted | ~np.isnan(arr_delay)
        return (late | disrupted)[keep].astype("int8"), keep
    keep = ~disrupted & ~np.isnan(arr_delay)
    return late[keep].astype("int8"), keep


def model_features(train: pd.DataFrame) -> list[str]:
    """The feature table's entries, less those that read a context field training has no value of: the model
    then scores without that context, and its manifest says so."""
    missing = {name for name in CONTEXT_FIELDS if train[name].isna().all()}
    return [feature.name for feature in feature_table.FEATURES if not missing.intersection(feature.inputs)]


def fit_delay_model(
    train: pd.DataFrame, y_train: np.ndarray, tune: pd.DataFrame, y_tune: np.ndarray, config: TrainingConfig
) -> Pipeline:
    """Fit features, encoders and a HistGradientBoosting classifier that stops early on `tune`.

    The encoder's columns are the fitted feature step's (`delaycast.features`): categorical ones ordinal-encoded,
    keys target-encoded, numeric ones passed through.
    """
    features = FlightFeatures(model_features(train)).fit(train[list(FIELD_NAMES)])
    encoder = _encoder(features, config)
    x_train = encoder.fit_transform(features.transform(train[list(FIELD_NAMES)]), y_train)
    x_tune = encoder.transform(features.transform(tune[list(FIELD_NAMES)]))
    classifier = HistGradientBoostingClassifier(
        learning_rate=config.learning_rate,
        max_iter=config.max_iter,
        max_leaf_nodes=config.max_leaf_nodes,
        min_samples_leaf=config.min_samples_leaf,
        l2_regularization=config.l2_regularization,
        categorical_features=list(range(len(features.names_of("categorical")))),
        early_stopping=True,
        n_iter_no_change=config.early_stopping_rounds,
        scoring="loss",
        random_state=config.random_state,
    )
    classifier.fit(x_train, y_train, X_val=x_tune, y_val=y_tune)
    return Pipeline([("features", features), ("encode", encoder), ("classifier", classifier)])


def _encoder(features: FlightFeatures, config: TrainingConfig) -> ColumnTransformer:
    return ColumnTransformer(
        [
            (
                "categorical",
                OrdinalEncoder(
                    handle_unknown="use_encoded_value",
                    unknown_value=np.nan,
                    encoded_missing_value=np.nan,
                    max_categories=config.max_categories,
                ),
                features.names_of("categorical"),
            ),
            (
                "history",
                TargetEncoder(cv=KFold(5, shuffle=True, random_state=config.random_state)),
                features.names_of("key"),
            ),
            ("numeric", "passthrough", features.names_of("numeric")),
        ],
        verbose_feature_names_out=False,
    )


def fit_majority(train: pd.DataFrame, y_train: np.ndarray) -> Pipeline:
    """Baseline 1: always the training delay rate."""
    return make_pipeline(DummyClassifier(strategy="prior")).fit(train[list(FIELD_NAMES)], y_train)


def fit_logistic(train: pd.DataFrame, y_train: np.ndarray, config: TrainingConfig) -> Pipeline:
    """Baseline 2: logistic regression on the core schedule features."""
    features = FlightFeatures().fit(train[list(FIELD_NAMES)])
    encode = ColumnTransformer(
        [
            (
                "codes",
                OneHotEncoder(handle_unknown="infrequent_if_exist", min_frequency=50),
                features.names_of("categorical"),
            ),
            (
                "schedule",
                make_pipeline(SimpleImputer(strategy="median"), StandardScaler()),
                ["dep_minute", "distance", "day_of_week", "days_to_holiday"],
            ),
        ]
    )
    model = make_pipeline(encode, LogisticRegression(max_iter=500)).fit(
        features.transform(train[list(FIELD_NAMES)]), y_train
    )
    return Pipeline([("features", features), ("model", model)])
