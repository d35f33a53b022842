"""Hyperparameters arrive as strings from SageMaker: parsed, checked, unknown keys refused."""

from __future__ import annotations

import datetime as dt

import pytest

from delaycast.errors import ConfigError
from train.config import TrainingConfig


def test_parses_strings_into_typed_values() -> None:
    config = TrainingConfig.from_strings(
        {"learning_rate": "0.05", "max_iter": "120", "test_start_date": "2013-11-01", "disrupted_flights": "drop"}
    )
    assert config.learning_rate == 0.05
    assert config.max_iter == 120
    assert config.test_start_date == dt.date(2013, 11, 1)
    assert config.disrupted_flights == "drop"


def test_sagemaker_own_keys_are_ignored() -> None:
    assert TrainingConfig.from_strings({"sagemaker_region": '"us-east-1"', "_tuning_objective_metric": "x"}) == (
        TrainingConfig()
    )


def test_unknown_keys_are_refused_with_the_known_ones_listed() -> None:
    with pytest.raises(ConfigError, match=r"unknown hyperparameter\(s\): leraning_rate; known: .*learning_rate"):
        TrainingConfig.from_strings({"leraning_rate": "0.1"})


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"max_iter": "ten"}, r"max_iter='ten' is not a valid int"),
        ({"learning_rate": "2"}, r"learning_rate must be in \(0, 1\]"),
        ({"max_categories": "300"}, r"max_categories must be in 2..255"),
        ({"disrupted_flights": "ignore"}, r"disrupted_flights must be one of"),
        ({"test_start_date": "November"}, r"test_start_date='November' is not a valid"),
    ],
)
def test_bad_values_are_refused(values: dict[str, str], expected: str) -> None:
    with pytest.raises(ConfigError, match=expected):
        TrainingConfig.from_strings(values)
