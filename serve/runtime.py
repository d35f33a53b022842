"""The model runtime: a verified model, and scoring of decoded requests. No HTTP here.

The compiled pipeline comes from the model directory's compiled archive (exported
at training, checked against scikit-learn's answers at load, without skops), else
it is built from the skops estimator at load. Small requests go through it record
by record (the reference validator, the feature table in Python, the trees in C:
microseconds per record); large ones are validated by `coerce_frame` (the same
grammar once per distinct value), encoded from the same feature table once per
distinct input and scored by the same trees in C. Both agree with scikit-learn
to 1e-9; without a compiled pipeline, scikit-learn's own Pipeline scores everything.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from delaycast.artifact import LoadedModel, load_compiled, load_model, verify_model_dir
from delaycast.compiled import CompiledPipeline, CompileError
from delaycast.fields import FIELD_NAMES
from delaycast.records import Record, RecordError, validate_record
from delaycast.schema import Refusals, Refuser, checked_frame, coerce_frame
from serve.errors import BadRecords
from serve.payloads import Predictions, RawTable

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

log = logging.getLogger("delaycast.serve")
COMPILED_MAX_RECORDS = 400  # the vectorised path wins from about 500 records; at 400 the two are within 15%
# The record /ping scores, in FIELDS order: a worker that cannot score it is not healthy.
CANARY = ("UA", "1545", "EWR", "IAH", "2013-11-05", "0515")


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
        self.version = str(manifest["model_version"])  # the version recorded at training
        self.threshold = float(manifest["threshold"])  # at or above it, a flight is predicted delayed

    @classmethod
    def load(cls, model_dir: Path) -> ModelRuntime:
        """Verify the model directory (raises ModelArtifactError) and load its compiled archive, else its estimator."""
        manifest = verify_model_dir(model_dir)
        try:
            runtime = cls(manifest, compiled=load_compiled(model_dir, manifest))
        except CompileError as error:
            log.warning("no usable compiled archive (%s); loading the scikit-learn pipeline", error)
            runtime = cls.of_model(load_model(model_dir))
        log.info(
            "model loaded",
            extra={
                "model_version": runtime.version,
                "model_dir": str(model_dir),
                "compiled": runtime.compiled is not None,
            },
        )
        return runtime

    @classmethod
    def of_model(cls, model: LoadedModel) -> ModelRuntime:
        """A runtime for a loaded estimator, compiled at once if possible (a log line says when not)."""
        return cls(model.manifest, compile_or_none(model), model.estimator)

    def predict(self, table: RawTable, keep_refused: bool = False) -> Predictions:
        """Validate raw fields and score the records that pass.

        Refused records (the codec's, then the validator's) are a BadRecords error naming them from 0 in input
        order, or with `keep_refused` (DELAYCAST_BAD_RECORDS=report) kept in the answer in their places.
        """
        if self.compiled is not None and len(table) <= COMPILED_MAX_RECORDS:
            records, checked = _validated(table)
            refused = _kept(table.refused.then(checked), keep_refused)
            probabilities = np.array([self.compiled.probability(record) for record in records], dtype="float64")
        else:
            frame, checked = checked_frame(table.frame())
            refused = _kept(table.refused.then(checked), keep_refused)
            probabilities = self._batch(frame)
        return Predictions(probabilities, self.threshold, self.version, refused)

    def healthy(self) -> bool:
        """Whether the model scores a known record to a probability (what /ping reports); exceptions propagate."""
        record = validate_record([*CANARY, *[None] * (len(FIELD_NAMES) - len(CANARY))], 0)
        probability = self.predict_record(record).probabilities[0]
        return 0.0 <= probability <= 1.0

    def predict_record(self, record: Record) -> Predictions:
        """The delay probability of one validated record (FIELDS order)."""
        if self.compiled is None:
            assert self.estimator is not None  # one of the two, by construction
            frame = coerce_frame(pd.DataFrame([record], columns=list(FIELD_NAMES)))
            probability = float(self.estimator.predict_proba(frame)[0, 1])
        else:
            probability = self.compiled.probability(record)
        return Predictions((probability,), self.threshold, self.version)

    def _batch(self, frame: pd.DataFrame) -> np.ndarray:
        """Probabilities of a frame from `checked_frame`."""
        if frame.empty:
            return np.empty(0, dtype="float64")
        if self.compiled is not None:
            return self.compiled.batch_probabilities(frame)
        assert self.estimator is not None  # one of the two, by construction
        return np.asarray(self.estimator.predict_proba(frame)[:, 1], dtype="float64")


def _validated(table: RawTable) -> tuple[list[Record], Refusals]:
    """The records of a table that `validate_record` accepts, and the refusals of the others."""
    records: list[Record] = []
    refuser = Refuser(len(table))
    for index in range(len(table)):
        try:
            records.append(validate_record(table.record(index), index))
        except RecordError as error:
            refuser.refuse(index, error.field, error.reason)
    return records, refuser.done()


def _kept(refusals: Refusals, keep_refused: bool) -> Refusals | None:
    """The refusals an answer holds (None for none); BadRecords for any unless they are kept."""
    if not refusals.reasons:
        return None
    if not keep_refused:
        raise BadRecords(refusals)
    return refusals


def compile_or_none(model: LoadedModel) -> CompiledPipeline | None:
    """The compiled pipeline, or None (with a log line) when it cannot be built or checked."""
    from delaycast.compiler import compile_pipeline  # scikit-learn, needed only without a compiled archive

    try:
        return compile_pipeline(model.estimator)
    except CompileError as error:
        log.warning("compiled path unavailable, scoring with scikit-learn: %s", error)
        return None
