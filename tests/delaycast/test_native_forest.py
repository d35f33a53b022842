"""The C trees decide and sum as scikit-learn's HistGradientBoosting does, one vector or a batch, and refuse what
they cannot take.

The features feeding them are held to scikit-learn's by tests/delaycast/test_compiled.py (the whole test set).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import sys

import numpy as np
import pytest

from delaycast._native_forest import NativeForest
from delaycast.artifact import LoadedModel
from delaycast.compiled import CompileError, Forest, Node, Tree
from delaycast.compiler import compile_pipeline
from serve.runtime import compile_or_none

NAN = math.nan


def leaf(value: float) -> Node:
    return Node(True, value, 0, 0.0, False, 0, 0, None, None)


def numeric(feature: int, threshold: float, missing_left: bool, left: int, right: int) -> Node:
    return Node(False, 0.0, feature, threshold, missing_left, left, right, None, None)


def categorical(feature: int, known: list[int], left_codes: list[int], missing_left: bool) -> Node:
    def table(codes: list[int]) -> np.ndarray:
        marked = np.zeros(256, dtype=bool)
        marked[codes] = True
        return marked

    return Node(False, 0.0, feature, 0.0, missing_left, 1, 2, table(left_codes), table(known))


def edge_case_forest() -> Forest:
    """Four small trees: a numeric split either way for missing values, and categorical splits whose unknown
    and missing codes go left in one tree and right in the other."""
    trees = [
        Tree([numeric(0, 2.5, True, 1, 2), leaf(0.25), leaf(-0.5)]),
        Tree([numeric(0, 2.5, False, 1, 2), leaf(0.125), leaf(-1.0)]),
        Tree([categorical(1, [1, 2, 3, 200], [2, 200], True), leaf(0.75), leaf(-0.0625)]),
        Tree([categorical(1, [1, 2, 3, 200], [2, 200], False), leaf(0.5), leaf(-2.0)]),
    ]
    return Forest(-1.0, trees, 2)


EDGE_CASES = [
    # (first, second), the leaves each tree reaches
    ((1.0, 2.0), (0.25, 0.125, 0.75, 0.5)),  # numeric left; a known category that goes left
    ((2.5, 3.0), (0.25, 0.125, -0.0625, -2.0)),  # the threshold itself goes left; a known category that goes right
    ((7.0, 200.0), (-0.5, -1.0, 0.75, 0.5)),  # right; a known category in the last bitset word
    ((NAN, NAN), (0.25, -1.0, 0.75, -2.0)),  # missing: each split's own missing side
    ((0.0, 4.0), (0.25, 0.125, 0.75, -2.0)),  # a category unknown in training goes the missing side
    ((-3.0, -1.0), (0.25, 0.125, 0.75, -2.0)),  # a negative code is missing
    ((1e300, 256.0), (-0.5, -1.0, 0.75, -2.0)),  # past the 256 categories is missing
]


@pytest.mark.parametrize(("row", "leaves"), EDGE_CASES)
def test_decides_each_edge_case_as_histgradientboosting_does(
    row: tuple[float, float], leaves: tuple[float, ...]
) -> None:
    expected = 1 / (1 + math.exp(-(-1.0 + sum(leaves))))
    assert NativeForest(edge_case_forest()).probability(list(row)) == pytest.approx(expected, abs=1e-15)


def test_a_batch_is_scored_as_its_rows_are_in_any_memory_order() -> None:
    native = NativeForest(edge_case_forest())
    rows = np.array([row for row, _ in EDGE_CASES])
    one_by_one = [native.probability(row) for row in rows.tolist()]
    assert native.probabilities(rows).tolist() == one_by_one
    assert native.probabilities(np.asfortranarray(rows)).tolist() == one_by_one
    assert native.probabilities(rows[::-1]).tolist() == one_by_one[::-1]
    assert native.probabilities(np.empty((0, 2))).shape == (0,)


def test_scores_the_trained_forest_as_scikit_learn_does(loaded_model: LoadedModel) -> None:
    native = compile_pipeline(loaded_model.estimator).trees
    classifier = loaded_model.estimator[-1]
    rng = np.random.default_rng(0)
    features = rng.uniform(-5, 300, size=(2000, native.n_features))
    features[:, :3] = np.floor(features[:, :3])  # category codes, known and unknown
    features[rng.random(features.shape) < 0.1] = NAN
    expected = classifier.predict_proba(features)[:, 1]
    batch = native.probabilities(features)
    assert np.max(np.abs(batch - expected)) <= 1e-15
    assert [native.probability(row) for row in features.tolist()] == batch.tolist()


def test_refuses_a_feature_vector_or_matrix_of_another_width() -> None:
    native = NativeForest(edge_case_forest())
    with pytest.raises(ValueError, match="3 features, expected 2"):
        native.probability([1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="3 features, expected 2"):
        native.probabilities(np.zeros((4, 3)))


def test_refuses_a_split_on_a_feature_the_forest_does_not_have() -> None:
    forest = Forest(0.0, [Tree([numeric(5, 1.0, True, 1, 2), leaf(1.0), leaf(2.0)])], 2)
    with pytest.raises(ValueError, match="splits on feature 5 of 2"):
        NativeForest(forest)


def test_refuses_more_features_than_it_holds() -> None:
    with pytest.raises(ValueError, match="the native forest takes 1 to 64"):
        NativeForest(Forest(0.0, [Tree([leaf(1.0)])], 65))


def test_a_pipeline_whose_trees_take_other_features_is_not_compiled(loaded_model: LoadedModel) -> None:
    compiled = compile_pipeline(loaded_model.estimator)
    with pytest.raises(CompileError, match="the forest takes 2 features, the pipeline makes 17"):
        dataclasses.replace(compiled, forest=edge_case_forest())


def test_without_the_built_extension_the_runtime_falls_back_with_a_log_line(
    loaded_model: LoadedModel, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setitem(sys.modules, "delaycast._native_forest", None)  # import fails as when it was never built
    with caplog.at_level(logging.WARNING):
        assert compile_or_none(loaded_model) is None
    assert "the native scorer is not built" in caplog.text
