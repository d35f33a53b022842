"""Scores, threshold choice and the plots a person looks at after training."""

from __future__ import annotations

import logging
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pandas as pd
from sklearn.calibration import calibration_curve
from sklearn.inspection import permutation_importance
from sklearn.metrics import (
    average_precision_score,
    brier_score_loss,
    f1_score,
    log_loss,
    precision_recall_curve,
    precision_score,
    recall_score,
    roc_auc_score,
    roc_curve,
)
from sklearn.pipeline import Pipeline

from delaycast.fields import FIELD_NAMES

log = logging.getLogger("delaycast.train")


def best_f1_threshold(labels: np.ndarray, probabilities: np.ndarray) -> float:
    """The probability cut-off that maximises F1 (chosen on tuning data, never on the test set)."""
    precision, recall, thresholds = precision_recall_curve(labels, probabilities)
    f1 = np.where(precision + recall > 0, 2 * precision * recall / np.maximum(precision + recall, 1e-12), 0)
    return float(thresholds[int(np.argmax(f1[:-1]))])


def roc_auc(labels: np.ndarray, probabilities: np.ndarray) -> float:
    """ROC AUC as a float."""
    return float(roc_auc_score(labels, probabilities))


def scores(labels: np.ndarray, probabilities: np.ndarray, threshold: float) -> dict[str, float]:
    """ROC AUC, PR AUC, Brier, log loss, and precision/recall/F1 at the threshold."""
    predicted = (probabilities >= threshold).astype(int)
    return {
        "roc_auc": float(roc_auc_score(labels, probabilities)),
        "pr_auc": float(average_precision_score(labels, probabilities)),
        "brier": float(brier_score_loss(labels, probabilities)),
        "log_loss": float(log_loss(labels, np.clip(probabilities, 1e-7, 1 - 1e-7), labels=[0, 1])),
        "precision": float(precision_score(labels, predicted, zero_division=0)),
        "recall": float(recall_score(labels, predicted, zero_division=0)),
        "f1": float(f1_score(labels, predicted, zero_division=0)),
        "threshold": float(threshold),
    }


def input_importance(
    model: Pipeline, frame: pd.DataFrame, labels: np.ndarray, rows: int, seed: int
) -> dict[str, float]:
    """Drop in ROC AUC when each raw input field is shuffled (on at most `rows` test rows)."""
    if rows == 0:
        return {}
    sample = np.random.default_rng(seed).permutation(len(frame))[:rows]
    result: Any = permutation_importance(
        model,
        frame.iloc[sample][list(FIELD_NAMES)],
        labels[sample],
        scoring="roc_auc",
        n_repeats=3,
        random_state=seed,
    )
    return {name: float(value) for name, value in zip(FIELD_NAMES, result.importances_mean, strict=True)}


def write_plots(
    out_dir: Path,
    labels: np.ndarray,
    predictions: dict[str, np.ndarray],
    metrics: dict[str, dict[str, float]],
    importance: dict[str, float],
    by_lead: dict[str, float] | None = None,
) -> list[Path]:
    """ROC, precision-recall, calibration, importance and lead-time plots as PNG files (none without
    matplotlib)."""
    plt = _pyplot()
    if plt is None:
        log.warning("plots skipped: matplotlib is not installed (pip install -r requirements/reports.txt)")
        return []
    out_dir.mkdir(parents=True, exist_ok=True)
    written = [
        _curve_plot(
            plt,
            out_dir / "roc.png",
            "ROC curve (test period)",
            ("false positive rate", "true positive rate"),
            {f"{n} (ROC AUC {metrics[n]['roc_auc']:.3f})": roc_curve(labels, p)[:2] for n, p in predictions.items()},
            diagonal=True,
        ),
        _curve_plot(
            plt,
            out_dir / "precision_recall.png",
            "Precision-recall (test period)",
            ("recall", "precision"),
            {f"{n} (PR AUC {metrics[n]['pr_auc']:.3f})": _pr_curve(labels, p) for n, p in predictions.items()},
        ),
        _curve_plot(
            plt,
            out_dir / "calibration.png",
            "Calibration (test period)",
            ("mean predicted probability", "observed delay rate"),
            {
                n: calibration_curve(labels, p, n_bins=15, strategy="quantile")[::-1]
                for n, p in predictions.items()
                if np.ptp(p) > 0
            },
            diagonal=True,
        ),
    ]
    if importance:
        written.append(_importance_plot(plt, out_dir / "feature_importance.png", importance))
    if by_lead:
        written.append(_lead_time_plot(plt, out_dir / "lead_time.png", by_lead, metrics))
    return written


def _lead_time_plot(plt: ModuleType, path: Path, by_lead: dict[str, float], metrics: dict[str, Any]) -> Path:
    """ROC AUC against hours before departure, beside the model without context."""
    hours = [int(name.rstrip("h")) for name in by_lead]
    figure, axes = plt.subplots(figsize=(6, 4), dpi=100)
    axes.plot(hours, list(by_lead.values()), marker="o", label="model, context known at the lead time")
    axes.axhline(metrics["model (no context)"]["roc_auc"], linestyle=":", color="grey", label="model without context")
    axes.set(title="ROC AUC by lead time (test period)", xlabel="hours before scheduled departure", ylabel="ROC AUC")
    axes.invert_xaxis()
    axes.legend(loc="best")
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
    return path


def _pr_curve(labels: np.ndarray, probabilities: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Recall and precision; a constant score's curve is flat at the prevalence (what it achieves at every recall)."""
    if np.ptp(probabilities) == 0:
        return np.array([0.0, 1.0]), np.full(2, labels.mean())
    precision, recall, _ = precision_recall_curve(labels, probabilities)
    return recall, precision


def _pyplot() -> ModuleType | None:
    try:
        import matplotlib
    except ImportError:
        return None
    matplotlib.use("Agg")
    import matplotlib.pyplot

    return matplotlib.pyplot


def _curve_plot(
    plt: ModuleType, path: Path, title: str, axes_names: tuple[str, str], curves: dict[str, Any], diagonal: bool = False
) -> Path:
    figure, axes = plt.subplots(figsize=(6, 5), dpi=100)
    for name, (x, y) in curves.items():
        axes.plot(x, y, label=name)
    if diagonal:
        axes.plot([0, 1], [0, 1], linestyle=":", color="grey")
    axes.set(title=title, xlabel=axes_names[0], ylabel=axes_names[1], xlim=(0, 1), ylim=(0, 1.02))
    axes.legend(loc="best")
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
    return path


def _importance_plot(plt: ModuleType, path: Path, importance: dict[str, float]) -> Path:
    ordered = sorted(importance.items(), key=lambda item: item[1])
    figure, axes = plt.subplots(figsize=(7, 4.5), dpi=100)
    axes.barh([name for name, _ in ordered], [value for _, value in ordered])
    axes.set(title="Input importance (test period)", xlabel="ROC AUC lost when the field is shuffled")
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
    return path
