"""What the server passes between its layers: decoded requests (`RawTable`) and scored answers (`Predictions`).

The codecs (`serve.codecs`) make the one and write the other; the runtime (`serve.runtime`) reads the one and
makes the other. Neither knows the other's module.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from delaycast.fields import FIELD_NAMES

Column = Sequence[Any] | np.ndarray


@dataclass(frozen=True)
class Predictions:
    """Delay probabilities of a batch of records and how to label them."""

    probabilities: np.ndarray | tuple[float]  # a tuple for one record scored alone: no NumPy on that path
    threshold: float
    model_version: str


@dataclass(frozen=True)
class RawTable:
    """Decoded values by column, and which column holds which canonical field; values are unchecked.

    A column is a list of raw values (strings, JSON scalars), or an array of the cells' texts from pandas'
    C reader.
    """

    positions: dict[str, int]
    columns: list[Column]
    length: int

    def __len__(self) -> int:
        return self.length

    def record(self, index: int) -> list[Any]:
        """One row's values in FIELD_NAMES order, None for fields the request did not send."""
        return [self.columns[self.positions[name]][index] if name in self.positions else None for name in FIELD_NAMES]

    def frame(self) -> pd.DataFrame:
        """All rows as a frame of object columns, one per field sent."""
        return pd.DataFrame({f: pd.Series(self.columns[i], dtype=object) for f, i in self.positions.items()})
