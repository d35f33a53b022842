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
from delaycast.schema import Refusals

Column = Sequence[Any] | np.ndarray


@dataclass(frozen=True)
class Predictions:
    """Delay probabilities of a batch of records and how to label them."""

    probabilities: np.ndarray | tuple[float]  # a tuple for one record scored alone: no NumPy on that path
    threshold: float
    model_version: str
    refused: Refusals | None = None  # the records kept in the answer as refused (DELAYCAST_BAD_RECORDS=report)

    @property
    def records(self) -> int:
        """How many records the answer holds, scored or refused."""
        return len(self.probabilities) + (0 if self.refused is None else self.refused.count)


@dataclass(frozen=True)
class RawTable:
    """Decoded values by column, and which column holds which canonical field; values are unchecked.

    A column is a list of raw values (strings, JSON scalars), or an array of the cells' texts from pandas'
    C reader. It holds the records the codec could read; `refused` spans every record of the body, those it
    could not read (a blank line, a row of the wrong width...) with their reasons.
    """

    positions: dict[str, int]
    columns: list[Column]
    length: int
    refused: Refusals

    def __len__(self) -> int:
        return self.length

    def record(self, index: int) -> list[Any]:
        """One row's values in FIELD_NAMES order, None for fields the request did not send."""
        return [self.columns[self.positions[name]][index] if name in self.positions else None for name in FIELD_NAMES]

    def frame(self) -> pd.DataFrame:
        """All rows as a frame of object columns, one per field sent."""
        return pd.DataFrame({f: pd.Series(self.columns[i], dtype=object) for f, i in self.positions.items()})
