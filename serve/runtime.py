"""The model runtime: a verified model, and scoring of raw-field frames. No HTTP here."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from delaycast.artifact import LoadedModel, load_model
from delaycast.errors import InvalidInput
from delaycast.schema import RowError, coerce_frame
from serve.codecs import Predictions

log = logging.getLogger("delaycast.serve")


class ModelRuntime:
    """Scores frames of canonical fields with one loaded, verified model."""

    def __init__(self, model: LoadedModel) -> None:
        self.model = model

    @classmethod
    def load(cls, model_dir: Path) -> ModelRuntime:
        """Load and verify the model directory (raises ModelArtifactError)."""
        runtime = cls(load_model(model_dir))
        log.info("model loaded", extra={"model_version": runtime.version, "model_dir": str(model_dir)})
        return runtime

    @property
    def version(self) -> str:
        """The version of the loaded model."""
        return self.model.version

    def predict(self, raw: pd.DataFrame) -> Predictions:
        """Validate raw fields and return the delay probability of each record."""
        try:
            frame = coerce_frame(raw.reset_index(drop=True))
        except RowError as error:
            raise InvalidInput(f"record {error.row + 1}, field {error.column}: {error.reason}") from None
        probabilities = self.model.estimator.predict_proba(frame)[:, 1]
        return Predictions(probabilities, self.model.threshold, self.model.version)
