"""Training hyperparameters: SageMaker passes every value as a string; parse and check them once."""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass
from typing import Any

from delaycast.errors import ConfigError

# Keys that SageMaker itself may add to hyperparameters.json (tuning jobs, the SDK).
IGNORED_PREFIXES = ("sagemaker_", "_tuning_")
LABEL_POLICIES = ("delay", "drop")


@dataclass(frozen=True)
class TrainingConfig:
    """Everything a training run may be told; defaults train the reference model."""

    learning_rate: float = 0.1
    max_iter: int = 300
    max_leaf_nodes: int = 31
    min_samples_leaf: int = 500
    l2_regularization: float = 0.0
    max_categories: int = 255
    early_stopping_rounds: int = 20
    tuning_fraction: float = 0.1
    test_fraction: float = 1 / 6
    test_start_date: dt.date | None = None
    disrupted_flights: str = "delay"
    context_dropout: float = 0.1
    max_lead_hours: float = 30.0  # training's prediction instants: 0..this many hours before departure
    max_train_rows: int = 0
    importance_rows: int = 20_000
    random_state: int = 0

    def __post_init__(self) -> None:
        checks = [
            (0 < self.learning_rate <= 1, "learning_rate must be in (0, 1]"),
            (self.max_iter >= 1, "max_iter must be >= 1"),
            (self.max_leaf_nodes >= 2, "max_leaf_nodes must be >= 2"),
            (self.min_samples_leaf >= 1, "min_samples_leaf must be >= 1"),
            (self.l2_regularization >= 0, "l2_regularization must be >= 0"),
            (2 <= self.max_categories <= 255, "max_categories must be in 2..255 (HistGradientBoosting's limit)"),
            (self.early_stopping_rounds >= 1, "early_stopping_rounds must be >= 1"),
            (0 < self.tuning_fraction < 0.5, "tuning_fraction must be in (0, 0.5)"),
            (0 < self.test_fraction < 0.5, "test_fraction must be in (0, 0.5)"),
            (self.disrupted_flights in LABEL_POLICIES, f"disrupted_flights must be one of {LABEL_POLICIES}"),
            (0 <= self.context_dropout < 1, "context_dropout must be in [0, 1)"),
            (0 <= self.max_lead_hours <= 168, "max_lead_hours must be in 0..168 (a week)"),
            (self.max_train_rows >= 0, "max_train_rows must be >= 0 (0: no limit)"),
            (self.importance_rows >= 0, "importance_rows must be >= 0"),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(message)

    @classmethod
    def from_strings(cls, values: dict[str, Any]) -> TrainingConfig:
        """Parse SageMaker-style hyperparameters (all strings); unknown keys are an error."""
        fields = {f.name: f for f in dataclasses.fields(cls)}
        parsed: dict[str, Any] = {}
        unknown = []
        for key, raw in values.items():
            if key.startswith(IGNORED_PREFIXES):
                continue
            if key not in fields:
                unknown.append(key)
                continue
            parsed[key] = _parse(key, str(raw), fields[key].type)
        if unknown:
            raise ConfigError(
                f"unknown hyperparameter(s): {', '.join(sorted(unknown))}; known: {', '.join(sorted(fields))}"
            )
        return cls(**parsed)

    def as_strings(self) -> dict[str, str]:
        """The configuration as written into the manifest."""
        return {k: "" if v is None else str(v) for k, v in dataclasses.asdict(self).items()}


def _parse(key: str, raw: str, kind: Any) -> Any:
    text = raw.strip()
    try:
        if kind == "float":
            return float(text)
        if kind == "int":
            return int(text)
        if kind == "dt.date | None":
            return dt.date.fromisoformat(text) if text else None
        return text
    except ValueError:
        raise ConfigError(f"hyperparameter {key}={raw!r} is not a valid {kind}") from None
