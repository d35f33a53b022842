"""The model runtime: a verified model, and scoring of decoded requests. No HTTP here.

The compiled pipeline comes from the model directory (exported at training,
checked against scikit-learn's answers at load, without skops), else it is
built from the skops estimator at load. Small requests go through it record by
record (validated in Python, features and trees in C: microseconds per record); large ones are validated by
pandas, encoded by its vectorised lookups and scored by its trees in NumPy.
Both validate the same way and agree to 1e-9; without a compiled pipeline,
scikit-learn's own Pipeline scores everything.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from delaycast.artifact import LoadedModel, load_fast_path, load_model, verify_model_dir
from delaycast.compiled import CompiledPipeline, CompileError
from delaycast.fields import FIELD_NAMES
from delaycast.records import Record, validate_record
from delaycast.schema import coerce_frame
from serve.payloads import Predictions, RawTable

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

log = logging.getLogger("delaycast.serve")
COMPILED_MAX_RECORDS = 400  # the vectorised path wins from about 500 records; at 400 the two are within 15%


class ModelRuntime:
    """Scores decoded requests with one verified model: its compiled pipeline, else its scikit-learn estimator."""

    def __init__(
        self, manifest: dict[str, Any], compiled: CompiledPipeline | None = None, estimator: Pipeline | None = None
    ) -> None:
        if compiled is None and estimator is None:
            raise ValueError("a runtime needs a compiled pipeline or an estimator")
        self.manifest = manifest
        self.compiled = compiled
        self.estimator = estimator

    @classmethod
    def load(cls, model_dir: Path) -> ModelRuntime:
        """Verify the model directory (raises ModelArtifactError) and load its fast path, else its estimator."""
        manifest = verify_model_dir(model_dir)
        try:
            runtime = cls(manifest, compiled=load_fast_path(model_dir, manifest))
        except CompileError as error:
            log.warning("no usable fast path (%s); loading the scikit-learn pipeline", error)
            runtime = cls.of_model(load_model(model_dir))
        log.info(
            "model loaded",
            extra={"model_version": runtime.version, "model_dir": str(model_dir), "fast_path": runtime.fast},
        )
        return runtime

    @classmethod
    def of_model(cls, model: LoadedModel) -> ModelRuntime:
        """A runtime for a loaded estimator, compiled at once if possible (a log line says when not)."""
        return cls(model.manifest, compile_or_none(model), model.estimator)

    @property
    def version(self) -> str:
        """The version of the loaded model."""
        return str(self.manifest["model_version"])

    @property
    def threshold(self) -> float:
        """Probability at or above which a flight is predicted delayed."""
        return float(self.manifest["threshold"])

    @property
    def fast(self) -> bool:
        """Whether requests are scored by the compiled pipeline."""
        return self.compiled is not None

    def predict(self, table: RawTable) -> Predictions:
        """Validate raw fields (RecordError names the first bad record, from 0) and score each record."""
        if self.compiled is None:
            assert self.estimator is not None  # one of the two, by construction
            probabilities = self.estimator.predict_proba(coerce_frame(table.frame()))[:, 1]
        elif len(table) <= COMPILED_MAX_RECORDS:
            probabilities = self._compiled(table, self.compiled)
        else:
            probabilities = self.compiled.batch_probabilities(coerce_frame(table.frame()))
        return Predictions(probabilities, self.threshold, self.version)

    def predict_record(self, record: Record) -> Predictions:
        """The delay probability of one validated record (FIELDS order)."""
        if self.compiled is None:
            assert self.estimator is not None  # one of the two, by construction
            frame = coerce_frame(pd.DataFrame([record], columns=list(FIELD_NAMES)))
            probability = float(self.estimator.predict_proba(frame)[0, 1])
        else:
            probability = self.compiled.probability(record)
        return Predictions((probability,), self.threshold, self.version)

    @staticmethod
    def _compiled(table: RawTable, compiled: CompiledPipeline) -> np.ndarray:
        records = [validate_record(table.record(i), i) for i in range(len(table))]
        return np.array([compiled.probability(record) for record in records], dtype="float64")


def compile_or_none(model: LoadedModel) -> CompiledPipeline | None:
    """The compiled pipeline, or None (with a log line) when it cannot be built or checked."""
    from delaycast.compiler import compile_pipeline  # scikit-learn, needed only without a fast path

    try:
        return compile_pipeline(model.estimator)
    except CompileError as error:
        log.warning("fast path unavailable, scoring with scikit-learn: %s", error)
        return None
