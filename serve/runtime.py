"""The model runtime: a verified model, and scoring of decoded requests. No HTTP here.

Small requests go through the compiled pipeline record by record (pure Python,
microseconds per record); large ones are validated by pandas, encoded by the
compiled pipeline's vectorised lookups and scored by the fitted classifier.
Both validate the same way and agree to 1e-9 (serve/compiled.py checks it at
load); without a compiled pipeline, scikit-learn's own Pipeline scores everything.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from delaycast.artifact import LoadedModel, load_model
from delaycast.errors import InvalidInput
from delaycast.records import validate_record
from delaycast.schema import RowError, coerce_frame
from serve.codecs import Predictions, RawTable
from serve.compiled import CompiledPipeline, CompileError, compile_pipeline

log = logging.getLogger("delaycast.serve")
COMPILED_MAX_RECORDS = 400  # above this the vectorised batch path is faster (crossover measured near 450)


class ModelRuntime:
    """Scores decoded requests with one loaded, verified model."""

    def __init__(self, model: LoadedModel, compiled: CompiledPipeline | None = None) -> None:
        self.model = model
        self.compiled = compiled

    @classmethod
    def load(cls, model_dir: Path) -> ModelRuntime:
        """Load and verify the model directory (raises ModelArtifactError), then compile it if possible."""
        model = load_model(model_dir)
        runtime = cls(model, compile_or_none(model))
        log.info("model loaded", extra={"model_version": runtime.version, "model_dir": str(model_dir)})
        return runtime

    @property
    def version(self) -> str:
        """The version of the loaded model."""
        return self.model.version

    def predict(self, table: RawTable) -> Predictions:
        """Validate raw fields and return the delay probability of each record."""
        try:
            if self.compiled is None:
                probabilities = self.model.estimator.predict_proba(coerce_frame(table.frame()))[:, 1]
            elif len(table) <= COMPILED_MAX_RECORDS:
                probabilities = self._compiled(table, self.compiled)
            else:
                probabilities = self.compiled.batch_probabilities(coerce_frame(table.frame()))
        except RowError as error:
            raise InvalidInput(f"record {error.row + 1}, field {error.column}: {error.reason}") from None
        return Predictions(probabilities, self.model.threshold, self.model.version)

    @staticmethod
    def _compiled(table: RawTable, compiled: CompiledPipeline) -> np.ndarray:
        records = [validate_record(table.record(i), i) for i in range(len(table))]
        return np.array([compiled.probability(record) for record in records], dtype="float64")


def compile_or_none(model: LoadedModel) -> CompiledPipeline | None:
    """The compiled pipeline, or None (with a log line) when it cannot be built or checked."""
    try:
        return compile_pipeline(model.estimator)
    except CompileError as error:
        log.warning("fast path unavailable, scoring with scikit-learn: %s", error)
        return None
