"""The runtime loads the exported compiled archive, and falls back to the scikit-learn pipeline without it."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import pytest

from delaycast.artifact import COMPILED_FILE, MANIFEST, load_model
from delaycast.records import validate_record
from serve.codecs import CsvCodec
from serve.runtime import ModelRuntime

ROWS = b"UA,1545,EWR,IAH,2013-11-05,0515,0819,1400\nAA,1141,JFK,MIA,2013-11-05,0540,0850,1089\n"


def test_loads_the_compiled_archive_and_agrees_with_the_pipeline(model_dir: Path) -> None:
    runtime = ModelRuntime.load(model_dir)
    assert runtime.compiled is not None
    table = CsvCodec().decode(ROWS, "")
    fallback = ModelRuntime(runtime.manifest, estimator=load_model(model_dir).estimator)
    fast, slow = runtime.predict(table), fallback.predict(table)
    assert fast.probabilities == pytest.approx(slow.probabilities, abs=1e-9)
    assert (fast.model_version, fast.threshold) == (slow.model_version, slow.threshold)


def test_without_a_compiled_archive_it_compiles_the_pipeline_and_says_so(
    model_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    copy = Path(shutil.copytree(model_dir, tmp_path / "model"))
    (copy / COMPILED_FILE).unlink()
    manifest = json.loads((copy / MANIFEST).read_text())
    del manifest["files"][COMPILED_FILE]
    (copy / MANIFEST).write_text(json.dumps(manifest))
    with caplog.at_level(logging.WARNING, logger="delaycast.serve"):
        runtime = ModelRuntime.load(copy)
    assert "no usable compiled archive" in caplog.text
    assert runtime.compiled is not None  # compiled from the skops pipeline at load instead
    assert len(runtime.predict(CsvCodec().decode(ROWS, "")).probabilities) == 2


def test_needs_a_compiled_pipeline_or_an_estimator(model_dir: Path) -> None:
    with pytest.raises(ValueError, match="needs a compiled pipeline or an estimator"):
        ModelRuntime(ModelRuntime.load(model_dir).manifest)


def test_one_record_scores_as_it_does_in_a_table(model_dir: Path) -> None:
    runtime = ModelRuntime.load(model_dir)
    fallback = ModelRuntime(runtime.manifest, estimator=load_model(model_dir).estimator)
    table = CsvCodec().decode(ROWS, "")
    records = [validate_record(table.record(i), i) for i in range(len(table))]
    for scorer in (runtime, fallback):
        alone = [scorer.predict_record(record) for record in records]
        assert [one.probabilities[0] for one in alone] == pytest.approx(scorer.predict(table).probabilities, abs=1e-12)
        assert {(one.threshold, one.model_version) for one in alone} == {(runtime.threshold, runtime.version)}
