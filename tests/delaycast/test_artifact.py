"""The model directory: verified hashes and versions, and refusal of anything tampered with."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from delaycast.artifact import (
    COMPILED_FILE,
    MANIFEST,
    MODEL_FILE,
    LoadedModel,
    load_model,
    package_versions,
    verify_model_dir,
)
from delaycast.errors import ModelArtifactError

RECORD = {
    "carrier": "UA",
    "flight_number": 1545,
    "origin": "EWR",
    "dest": "IAH",
    "flight_date": "2013-11-05",
    "crs_dep_time": 515,
    "crs_arr_time": 819.0,
    "distance": 1400.0,
    "origin_delay_rate_prev_day": float("nan"),
    "origin_delay_rate_today": float("nan"),
    "minutes_to_departure": float("nan"),
}


@pytest.fixture
def model_copy(model_dir: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(model_dir, tmp_path / "model"))


def edit_manifest(model: Path, **changes: object) -> None:
    manifest = json.loads((model / MANIFEST).read_text())
    manifest.update(changes)
    (model / MANIFEST).write_text(json.dumps(manifest))


def test_loads_a_pipeline_that_predicts_from_raw_records(loaded_model: LoadedModel) -> None:
    frame = pd.DataFrame([RECORD]).astype({"flight_date": "datetime64[s]"})
    probability = loaded_model.estimator.predict_proba(frame)[0, 1]
    assert 0 < probability < 1
    assert 0 < loaded_model.manifest["threshold"] < 1
    assert loaded_model.manifest["model_version"].startswith("0.1.0-")


def test_manifest_describes_schema_versions_and_hashes(loaded_model: LoadedModel) -> None:
    manifest = loaded_model.manifest
    assert [f["name"] for f in manifest["input_schema"]][:6] == [
        "carrier",
        "flight_number",
        "origin",
        "dest",
        "flight_date",
        "crs_dep_time",
    ]
    assert manifest["versions"] == package_versions()
    assert set(manifest["files"]) == {MODEL_FILE, COMPILED_FILE}
    assert manifest["label"]["definition"] == "arrival delay >= 15 minutes (US DOT)"


@pytest.mark.parametrize("name", [MODEL_FILE, COMPILED_FILE])
def test_a_changed_byte_in_any_file_is_refused(model_copy: Path, name: str) -> None:
    data = bytearray((model_copy / name).read_bytes())
    data[len(data) // 2] ^= 0x01
    (model_copy / name).write_bytes(bytes(data))
    with pytest.raises(ModelArtifactError, match=rf"{name}: SHA-256 .* does not match the manifest"):
        verify_model_dir(model_copy)
    with pytest.raises(ModelArtifactError, match=r"does not match the manifest"):
        load_model(model_copy)


def test_a_missing_model_file_is_refused(model_copy: Path) -> None:
    (model_copy / MODEL_FILE).unlink()
    with pytest.raises(ModelArtifactError, match=r"listed in the manifest but missing"):
        load_model(model_copy)


def test_a_missing_manifest_is_refused(model_copy: Path) -> None:
    (model_copy / MANIFEST).unlink()
    with pytest.raises(ModelArtifactError, match=r"manifest.json: missing"):
        load_model(model_copy)


def test_another_scikit_learn_version_is_refused(model_copy: Path) -> None:
    versions = {**package_versions(), "scikit-learn": "1.5.0"}
    edit_manifest(model_copy, versions=versions)
    with pytest.raises(ModelArtifactError, match=r"saved with scikit-learn 1.5.0 but this is scikit-learn"):
        load_model(model_copy)


def test_a_manifest_that_is_not_ours_is_refused(model_copy: Path) -> None:
    edit_manifest(model_copy, format="something-else/9")
    with pytest.raises(ModelArtifactError, match=r"not a delaycast-model/1 manifest"):
        load_model(model_copy)
