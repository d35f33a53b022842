"""One training run under the SageMaker training layout (/opt/ml by default).

root/input/config/hyperparameters.json   all values strings; unknown keys refused
root/input/config/inputdataconfig.json   the channels (train, optional validation)
root/input/data/<channel>/               CSV files, optionally compressed
root/model/                              the model directory (model.tar.gz on SageMaker)
root/output/data/                        metrics.json and plots
root/output/failure                      the reason, when the run fails
"""

from __future__ import annotations

import hashlib
import json
import logging
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

import delaycast
from delaycast import compiler
from delaycast.artifact import save_model
from delaycast.compiled import CompileError
from delaycast.context import CONTEXT_FIELDS
from delaycast.errors import ConfigError, DelaycastError
from delaycast.fields import FIELDS
from train import evaluate
from train.config import TrainingConfig
from train.context import LEAD_HOURS, DepartureIndex, context_frame, sampled_leads
from train.data import BUNDLED, bundled_flights_path, read_flights
from train.model import delay_labels, fit_delay_model, fit_logistic, fit_majority

log = logging.getLogger("delaycast.train")
CHANNELS = ("train", "validation")
FAILURE_LIMIT = 1024
BASELINE_MAX_ROWS = 1_000_000  # logistic regression on 5.4M rows cost 39 s and the job's peak memory
# Fewest delayed and fewest on-time flights each part (train, tuning, test) must hold to fit and score a model.
MIN_FLIGHTS_PER_CLASS = 10
PART_NAMES = ("train", "tuning", "test")


class NotEnoughData(DelaycastError):
    """The data cannot train or score a classifier: one class only, or too few flights in a part."""

    title = "not enough data"


class TrainingStopped(BaseException):
    """SIGTERM arrived (StopTrainingJob, docker stop).

    A BaseException, like KeyboardInterrupt: raised from the signal handler wherever the job happens
    to be, it must not be swallowed by a library's `except Exception`.
    """


@dataclass(frozen=True)
class JobPaths:
    """Where a run reads and writes; defaults follow the SageMaker layout under `root`."""

    root: Path
    data: dict[str, Path] = field(default_factory=dict)
    model_dir: Path | None = None
    output_dir: Path | None = None

    @property
    def config_dir(self) -> Path:
        return self.root / "input" / "config"

    @property
    def model(self) -> Path:
        return self.model_dir or self.root / "model"

    @property
    def output(self) -> Path:
        return self.output_dir or self.root / "output" / "data"

    @property
    def failure(self) -> Path:
        return self.root / "output" / "failure"

    def channel(self, name: str) -> Path | None:
        """A channel's location: given explicitly, else input/data/<name> if listed or present."""
        if name in self.data:
            given = self.data[name]
            return bundled_flights_path() if str(given) == BUNDLED else given
        listed = read_json(self.config_dir / "inputdataconfig.json")
        location = self.root / "input" / "data" / name
        if (listed and name in listed) or (not listed and location.exists()):
            return location
        return None


@dataclass(frozen=True)
class Split:
    """Rows and labels of one part of the data, and the departures its context is computed from."""

    frame: pd.DataFrame
    labels: np.ndarray
    departures: DepartureIndex | None = None  # None: the data has no departure delays, so no context

    def where(self, mask: np.ndarray) -> Split:
        return Split(self.frame[mask].reset_index(drop=True), self.labels[mask], self.departures)

    def at_lead(self, lead_minutes: np.ndarray) -> pd.DataFrame:
        """The frame with its context as known `lead_minutes` before each departure (unchanged without one)."""
        if self.departures is None:
            return self.frame
        return self.frame.assign(**context_frame(self.frame, self.departures, lead_minutes))


def read_json(path: Path) -> dict[str, Any]:
    """A JSON object file, or {} when it does not exist."""
    if not path.exists():
        return {}
    try:
        value = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ConfigError(f"{path}: not valid JSON ({error})") from None
    if not isinstance(value, dict):
        raise ConfigError(f"{path}: must hold a JSON object")
    return value


def run(paths: JobPaths, overrides: dict[str, str]) -> int:
    """Run training; on failure write the reason to output/failure. Returns the exit code."""
    signal.signal(signal.SIGTERM, _stop)
    try:
        config = TrainingConfig.from_strings({**read_json(paths.config_dir / "hyperparameters.json"), **overrides})
        train_job(paths, config)
        return 0
    except TrainingStopped:
        _fail(paths, "training stopped by SIGTERM before the model was written")
        return 143
    except DelaycastError as error:
        _fail(paths, f"{error.title}: {error.detail}")
        return 1
    except MemoryError:
        _fail(paths, "out of memory: set max_train_rows or use a larger instance")
        return 1
    except Exception as error:
        log.exception("unexpected failure")
        _fail(paths, f"unexpected {type(error).__name__}: {error}")
        return 2


def _stop(signum: int, frame: FrameType | None) -> None:
    raise TrainingStopped()


def _fail(paths: JobPaths, reason: str) -> None:
    log.error("training failed: %s", reason)
    paths.failure.parent.mkdir(parents=True, exist_ok=True)
    paths.failure.write_text(reason[:FAILURE_LIMIT])


def train_job(paths: JobPaths, config: TrainingConfig) -> dict[str, Any]:
    """Read, split, fit, evaluate, write reports and the model directory. Returns the manifest."""
    started = time.monotonic()
    train_part, tune, test = _splits(paths, config)
    log.info("rows: train %d, tune %d, test %d", len(train_part.labels), len(tune.labels), len(test.labels))
    for name, part in zip(PART_NAMES, (train_part, tune, test), strict=True):
        _check_part(name, part)

    model = fit_delay_model(train_part.frame, train_part.labels, tune.frame, tune.labels, config)
    log.info("model fitted: %d boosting iterations", model[-1].n_iter_)
    threshold = evaluate.best_f1_threshold(tune.labels, model.predict_proba(tune.frame)[:, 1])
    by_lead = _lead_time_scores(model, test)
    predictions = {
        "model": model.predict_proba(test.frame)[:, 1],
        "model (no context)": model.predict_proba(_without_context(test.frame))[:, 1],
        "logistic regression": _logistic_baseline(train_part, config).predict_proba(test.frame)[:, 1],
        "majority class": fit_majority(train_part.frame, train_part.labels).predict_proba(test.frame)[:, 1],
    }
    metrics = {name: evaluate.scores(test.labels, p, threshold) for name, p in predictions.items()}
    for name, values in metrics.items():
        tag = name.replace(" ", "_").replace("(", "").replace(")", "")
        print(f"test:{tag}:roc_auc={values['roc_auc']:.4f} test:{tag}:pr_auc={values['pr_auc']:.4f}", flush=True)
    if by_lead:
        print(" ".join(f"test:model:lead_{h}:roc_auc={auc:.4f}" for h, auc in by_lead.items()), flush=True)
    warnings = _baseline_warnings(metrics)
    importance = evaluate.input_importance(model, test.frame, test.labels, config.importance_rows, config.random_state)
    data = _data_summary(paths, (train_part, tune, test))
    context = {**_context_of(model, config), "roc_auc_by_lead_time": by_lead}
    described = {**_manifest(config, threshold, metrics, data, importance), "context": context}
    manifest = save_model(model, paths.model, {**_model_version(model), **described})
    report = {
        "data": data,
        "metrics": metrics,
        "roc_auc_by_lead_time": by_lead,
        "warnings": warnings,
        "input_importance": importance,
        "model_version": manifest["model_version"],
        "threshold": threshold,
        "seconds": round(time.monotonic() - started, 1),
    }
    paths.output.mkdir(parents=True, exist_ok=True)
    (paths.output / "metrics.json").write_text(json.dumps(report, indent=2) + "\n")
    evaluate.write_plots(paths.output, test.labels, predictions, metrics, importance, by_lead)
    log.info("model %s written to %s; reports in %s", manifest["model_version"], paths.model, paths.output)
    return manifest


def _labelled(location: Path, config: TrainingConfig) -> Split:
    log.info("reading %s", location)
    frame = read_flights(location)
    # Every departure counts in the context, the cancelled and disrupted ones included.
    departures = DepartureIndex.of(frame) if frame["dep_delay"].notna().any() else None
    labels, keep = delay_labels(frame, config.disrupted_flights)
    frame = frame[keep].reset_index(drop=True)
    if len(labels) == 0:
        raise NotEnoughData(f"{location}: no flight has an arrival outcome to learn from")
    if labels.min() == labels.max():
        outcome = "arrived 15+ minutes late" if labels[0] else "arrived less than 15 minutes late"
        raise NotEnoughData(
            f"{location}: only one class: all {len(labels)} flights {outcome}; a classifier needs both outcomes"
        )
    log.info("read %d flights from %s, %.1f%% delayed", len(labels), location, 100 * labels.mean())
    if departures is None:
        log.info("%s has no departure delays: the model is trained without context", location)
        return Split(frame, labels)
    data = Split(frame, labels, departures)
    leads = sampled_leads(len(labels), config.max_lead_hours, np.random.default_rng(config.random_state))
    return Split(data.at_lead(leads), labels, departures)


def _time_split(data: Split, config: TrainingConfig) -> tuple[Split, Split]:
    dates = data.frame["flight_date"]
    if config.test_start_date is not None:
        start = pd.Timestamp(config.test_start_date)
    else:
        start = pd.Timestamp(
            np.quantile(dates.to_numpy().astype("datetime64[D]").astype("int64"), 1 - config.test_fraction).astype(
                "datetime64[D]"
            )
        )
    is_test = (dates >= start).to_numpy()
    if is_test.all() or not is_test.any():
        raise ConfigError(
            f"test_start_date {start.date()} leaves no training or no test rows "
            f"(data covers {dates.min().date()}..{dates.max().date()})"
        )
    log.info("time split: test on flights from %s", start.date())
    return data.where(~is_test), data.where(is_test)


def _tuning_split(data: Split, config: TrainingConfig) -> tuple[Split, Split]:
    """The last `tuning_fraction` of training dates: early stopping and the threshold."""
    days = data.frame["flight_date"].to_numpy().astype("datetime64[D]")
    cut = np.quantile(days.astype("int64"), 1 - config.tuning_fraction).astype("datetime64[D]")
    is_tune = days >= cut
    if is_tune.all() or not is_tune.any():
        raise ConfigError("too few training dates to hold out a tuning period")
    train = data.where(~is_tune)
    rng = np.random.default_rng(config.random_state)
    masked = rng.random(len(train.labels)) < config.context_dropout
    train.frame.loc[masked, list(CONTEXT_FIELDS)] = np.nan
    return train, data.where(is_tune)


def _splits(paths: JobPaths, config: TrainingConfig) -> tuple[Split, Split, Split]:
    """Train, tuning and test parts; the full frames they came from are freed on return."""
    train_location = paths.channel("train")
    if train_location is None:
        raise ConfigError(f"no train channel: put CSV files in {paths.root / 'input/data/train'}")
    everything = _labelled(train_location, config)
    validation_location = paths.channel("validation")
    if validation_location is not None:
        fit_part, test = everything, _labelled(validation_location, config)
    else:
        fit_part, test = _time_split(everything, config)
    train_part, tune = _tuning_split(fit_part, config)
    return _sample(train_part, config.max_train_rows, config.random_state, "max_train_rows"), tune, test


def _check_part(name: str, part: Split) -> None:
    """NotEnoughData unless the part holds MIN_FLIGHTS_PER_CLASS delayed and on-time flights."""
    delayed = int(part.labels.sum())
    on_time = len(part.labels) - delayed
    if min(delayed, on_time) < MIN_FLIGHTS_PER_CLASS:
        raise NotEnoughData(
            f"too few flights: the {name} part holds {len(part.labels)} ({delayed} delayed, {on_time} on time); "
            f"train, tuning and test each need at least {MIN_FLIGHTS_PER_CLASS} of both: give more data"
        )


def _baseline_warnings(metrics: dict[str, dict[str, float]]) -> list[str]:
    """A warning (also logged) when the model's ROC AUC does not beat logistic regression's."""
    model, baseline = metrics["model"]["roc_auc"], metrics["logistic regression"]["roc_auc"]
    if model > baseline:
        return []
    warning = (
        f"the model (test ROC AUC {model:.4f}) does not beat the logistic-regression baseline ({baseline:.4f}): "
        "too little data, or hyperparameters (min_samples_leaf) too strict for it"
    )
    log.warning(warning)
    return [warning]


def _logistic_baseline(train: Split, config: TrainingConfig) -> Pipeline:
    """The report baseline, fitted on at most BASELINE_MAX_ROWS rows (its AUC is stable long before)."""
    sample = _sample(train, BASELINE_MAX_ROWS, config.random_state, "logistic baseline")
    return fit_logistic(sample.frame, sample.labels, config)


def _sample(data: Split, limit: int, seed: int, reason: str) -> Split:
    """At most `limit` rows drawn at random (0: no limit)."""
    if limit == 0 or len(data.labels) <= limit:
        return data
    keep = np.zeros(len(data.labels), dtype=bool)
    keep[np.random.default_rng(seed).choice(len(data.labels), limit, replace=False)] = True
    log.info("sampled %d of %d training rows (%s)", limit, len(data.labels), reason)
    return data.where(keep)


def _without_context(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(**{name: np.nan for name in CONTEXT_FIELDS})


def _context_of(model: Pipeline, config: TrainingConfig) -> dict[str, Any]:
    """Which context fields the model reads (none: it scores without context) and the prediction instants it
    learnt from."""
    used = [name for name in CONTEXT_FIELDS if name in model[0].features_]
    return {"fields": used, "max_lead_hours": config.max_lead_hours if used else None}


def _lead_time_scores(model: Pipeline, test: Split) -> dict[str, float]:
    """Test ROC AUC with the context known at each lead time of LEAD_HOURS ({} without context)."""
    if test.departures is None:
        return {}
    scores = {}
    for hours in LEAD_HOURS:
        frame = test.at_lead(np.full(len(test.labels), hours * 60))
        scores[f"{hours}h"] = evaluate.roc_auc(test.labels, model.predict_proba(frame)[:, 1])
    return scores


def _model_version(model: Pipeline) -> dict[str, str]:
    """A version that the same data and code reproduce: the hash of the compiled archive, whose bytes are
    deterministic. Without one ({}), save_model names the version after the skops file, which differs on
    every run (skops names its arrays by memory address, and zip entries carry the time)."""
    try:
        archive = compiler.export(compiler.compile_pipeline(model), model)
    except CompileError:
        return {}
    return {"model_version": f"{delaycast.__version__}-{hashlib.sha256(archive).hexdigest()[:12]}"}


def _data_summary(paths: JobPaths, parts: tuple[Split, Split, Split]) -> dict[str, Any]:
    """The data set as given, then the train (fit), tuning (early stopping, threshold) and test (metrics) parts."""
    summary: dict[str, Any] = {f"{c}_data": str(paths.data.get(c) or paths.channel(c)) for c in CHANNELS}
    if paths.channel("validation") is None:
        summary.pop("validation_data")
    for name, part in zip(PART_NAMES, parts, strict=True):
        summary[f"{name}_rows"] = len(part.labels)
        summary[f"{name}_dates"] = _date_range(part.frame)
        summary[f"{name}_delay_rate"] = float(part.labels.mean())
    return summary


def _manifest(
    config: TrainingConfig,
    threshold: float,
    metrics: dict[str, Any],
    summary: dict[str, Any],
    importance: dict[str, float],
) -> dict[str, Any]:
    """What the model directory records beside the model."""
    return {
        "input_schema": [f.as_manifest() for f in FIELDS],
        "label": {
            "positive": "delay",
            "negative": "no delay",
            "definition": "arrival delay >= 15 minutes (US DOT)",
            "disrupted_flights": config.disrupted_flights,
        },
        "threshold": threshold,
        "training_data": summary,
        "hyperparameters": config.as_strings(),
        "metrics": metrics,
        "input_importance": importance,
    }


def _date_range(frame: pd.DataFrame) -> list[str]:
    dates = frame["flight_date"]
    return [str(dates.min().date()), str(dates.max().date())]
