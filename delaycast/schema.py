"""The bulk validator: a frame of raw fields typed by the reference grammar, once per distinct value.

Training files and large request bodies are validated here. `coerce_frame`
applies `Field.parse` (the grammar every path shares, `delaycast.fields`) to each
distinct value of a column and spreads the results over the rows, so it accepts,
types and refuses exactly as `delaycast.records.validate_record` does record by
record, with the same message for the first bad record (a property test holds
the two together). Batches repeat their values: a 100k-row column holds at
most a few thousand distinct ones. `checked_frame` is the same check keeping
the records that pass, with every refused one and its reason (`Refusals`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from delaycast.fields import FIELDS, BadValue, Field, Value
from delaycast.records import RecordError

# Object columns of one of these kinds hash their values as the grammar reads them (1 and 1.0 read alike);
# any other mix (booleans, which equal 1 and 0, or lists and objects) is read value by value.
_HASHABLE_KINDS = frozenset({"string", "integer", "floating", "mixed-integer-float", "empty"})


Problem = tuple[str | None, str]  # the field (None: the whole record) and the reason


@dataclass(frozen=True)
class Refusals:
    """Which records of a batch are refused and why: each record's problem, an index into `reasons` (-1: none).

    One array over the records, so that a body of a million bad lines costs megabytes, not a dict entry each.
    Every reason listed is some record's.
    """

    problems: np.ndarray  # intp, one per record in input order
    reasons: tuple[Problem, ...]

    @classmethod
    def none(cls, length: int) -> Refusals:
        """No record of `length` refused."""
        return cls(np.full(length, -1, dtype=np.intp), ())

    @property
    def count(self) -> int:
        """How many records are refused."""
        return 0 if not self.reasons else int(np.count_nonzero(self.problems >= 0))

    def errors(self, limit: int) -> list[RecordError]:
        """The first `limit` refused records as errors, in input order (numbered from 0)."""
        rows = np.flatnonzero(self.problems >= 0)[:limit]
        return [RecordError(row, *self.reasons[self.problems[row]]) for row in rows.tolist()]

    def then(self, inner: Refusals) -> Refusals:
        """These refusals, then `inner`'s over the records these accept (`inner` has one problem per accepted)."""
        if not inner.reasons:
            return self
        problems = self.problems.copy()
        problems[problems < 0] = np.where(inner.problems >= 0, inner.problems + len(self.reasons), -1)
        return Refusals(problems, self.reasons + inner.reasons)


class Refuser:
    """Refusals made record by record, each distinct problem listed once."""

    def __init__(self, length: int) -> None:
        self.problems = np.full(length, -1, dtype=np.intp)
        self.reasons: dict[Problem, int] = {}

    def refuse(self, index: int, field: str | None, reason: str) -> None:
        """Refuse record `index`."""
        self.problems[index] = self.reasons.setdefault((field, reason), len(self.reasons))

    def done(self) -> Refusals:
        """The refusals made."""
        return Refusals(self.problems, tuple(self.reasons))


def coerce_frame(raw: pd.DataFrame) -> pd.DataFrame:
    """Validate and type a frame of canonical fields (texts, JSON scalars, numbers or dates), rows numbered from 0.

    Fields not in the frame are absent; other columns are dropped. Raises RecordError for the first bad record
    (in row order, then field order), as `validate_record` would.
    """
    frame, refusals = checked_frame(raw)
    if refusals.reasons:
        raise refusals.errors(1)[0]
    return frame


def checked_frame(raw: pd.DataFrame) -> tuple[pd.DataFrame, Refusals]:
    """The typed frame of the records that pass (their index labels kept), and every refused record's problem:
    its first bad field in field order, as `validate_record` names it."""
    parsed = [_parse_column(raw[spec.name] if spec.name in raw.columns else None, spec, len(raw)) for spec in FIELDS]
    problems = np.full(len(raw), -1, dtype=np.intp)
    reasons: list[Problem] = []
    for spec, (codes, typed, bad) in zip(FIELDS, parsed, strict=True):
        if bad:
            lookup = np.full(len(typed) + 1, -1, dtype=np.intp)  # the last entry: code -1, absent
            for code, reason in bad.items():
                lookup[code] = len(reasons)
                reasons.append((spec.name, reason))
            problems = np.where(problems < 0, lookup[codes], problems)
    kept = problems < 0 if reasons else slice(None)
    typed_columns = zip(FIELDS, parsed, strict=True)
    columns = {spec.name: _typed_column(spec, codes[kept], typed) for spec, (codes, typed, _) in typed_columns}
    return pd.DataFrame(columns, index=raw.index[kept]), Refusals(problems, tuple(reasons))


def _parse_column(values: pd.Series | None, spec: Field, length: int) -> tuple[np.ndarray, list[Value], dict[int, str]]:
    """Each row's code into the typed distinct values (-1: absent), those values, and the reason of each bad
    code (only codes that some row has)."""
    if values is None:
        codes, uniques = np.full(length, -1, dtype=np.intp), []
    elif values.dtype == object and pd.api.types.infer_dtype(values, skipna=True) not in _HASHABLE_KINDS:
        codes, uniques = np.arange(length, dtype=np.intp), values.tolist()
    else:
        factorized, distinct = pd.factorize(values)
        codes, uniques = factorized.astype(np.intp), _python_values(distinct)
    typed: list[Value] = []
    bad: dict[int, str] = {}
    for code, value in enumerate(uniques):
        try:
            typed.append(spec.parse(value))
        except BadValue as error:
            bad[code] = error.reason
            typed.append(None)
    if spec.required and length and (codes < 0).any():
        bad[-1] = "a value is required"
    return codes, typed, bad


def _python_values(distinct: Any) -> list[object]:
    """Distinct values as the Python objects the grammar reads (dates from datetime64, floats from float64)."""
    if isinstance(distinct, pd.DatetimeIndex):
        return list(distinct.to_pydatetime())
    values: list[object] = np.asarray(distinct, dtype=object).tolist()
    return values


def _typed_column(spec: Field, codes: np.ndarray, typed: list[Value]) -> pd.Series | pd.Categorical | np.ndarray:
    """Rows of typed values: categoricals for codes, datetime64[s] for dates, int32 for required whole numbers,
    float32 for optional ones (exact: at most 2400), float64 for decimals (the reference's Python floats)."""
    if spec.kind in ("carrier", "airport"):
        category_codes, categories = pd.factorize(np.asarray(typed, dtype=object))
        rows = np.append(category_codes, -1)[codes]  # code -1 (absent) takes the -1 at the end
        return pd.Categorical.from_codes(rows, categories=pd.Index(categories, dtype=object))
    if spec.kind == "date":
        days: np.ndarray = np.array([*typed, None], dtype="datetime64[D]")[codes]
        return days.astype("datetime64[s]")
    numbers: np.ndarray = np.array([np.nan if v is None else v for v in typed] + [np.nan], dtype="float64")[codes]
    if spec.kind not in ("int", "hhmm"):
        return numbers
    return numbers.astype("int32" if spec.required else "float32")
