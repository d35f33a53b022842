"""The reports a person reads after training: the precision-recall baseline and the legends' AUC values."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from train import evaluate


def test_a_constant_score_is_flat_at_the_prevalence_in_precision_recall() -> None:
    labels = np.array([0, 0, 0, 1] * 25)
    recall, precision = evaluate._pr_curve(labels, np.full(100, 0.25))
    assert list(recall) == [0.0, 1.0]
    assert list(precision) == [0.25, 0.25]


def test_legends_carry_the_auc_values(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("matplotlib")
    legends: list[list[str]] = []
    original = evaluate._curve_plot

    def recording(*args: object, **kwargs: object) -> Path:
        legends.append(list(args[4]))  # type: ignore[call-overload]
        return original(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(evaluate, "_curve_plot", recording)
    labels = np.array([0, 1] * 50)
    predictions = {"model": np.linspace(0, 1, 100), "majority class": np.full(100, 0.5)}
    metrics = {name: evaluate.scores(labels, p, 0.5) for name, p in predictions.items()}
    written = evaluate.write_plots(tmp_path, labels, predictions, metrics, {})
    assert [p.name for p in written] == ["roc.png", "precision_recall.png", "calibration.png"]
    roc, pr, _ = legends
    assert roc[1] == "majority class (ROC AUC 0.500)"
    assert pr[1] == "majority class (PR AUC 0.500)"
    assert pr[0] == f"model (PR AUC {metrics['model']['pr_auc']:.3f})"
