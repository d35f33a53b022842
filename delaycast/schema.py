"""The bulk validator: a frame of raw fields typed by the reference grammar, once per distinct value.

Training files and large request bodies are validated here. `coerce_frame`
applies `Field.parse` (the grammar every path shares, `delaycast.fields`) to each
distinct value of a column and spreads the results over the rows, so it accepts,
types and refuses exactly as `delaycast.records.validate_record` does record by
record, with the same message for the first bad record (a property test holds
the two together). Batches repeat their values: a 100k-row column holds at
most a few thousand distinct ones.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from delaycast.fields import FIELDS, BadValue, Field, Value
from delaycast.records import RecordError

# Object columns of one of these kinds hash their values as the grammar reads them (1 and 1.0 read alike);
# any other mix (booleans, which equal 1 and 0, or lists and objects) is read value by value.
_HASHABLE_KINDS = frozenset({"string", "integer", "floating", "mixed-integer-float", "empty"})


def coerce_frame(raw: pd.DataFrame) -> pd.DataFrame:
    """Validate and type a frame of canonical fields (texts, JSON scalars, numbers or dates), rows numbered from 0.

    Fields not in the frame are absent; other columns are dropped. Raises RecordError for the first bad record
    (in row order, then field order), as `validate_record` would.
    """
    parsed = [_parse_column(raw[spec.name] if spec.name in raw.columns else None, spec, len(raw)) for spec in FIELDS]
    failures = [(failure[0], position, failure[1]) for position, (_, failure) in enumerate(parsed) if failure]
    if failures:
        row, position, reason = min(failures)
        raise RecordError(row, FIELDS[position].name, reason)
    return pd.DataFrame(
        {spec.name: _typed_column(spec, *typed) for spec, (typed, _) in zip(FIELDS, parsed, strict=True)},
        index=raw.index,
    )


Parsed = tuple[np.ndarray, list[Value]]  # each row's code into the typed distinct values (-1: absent)


def _parse_column(values: pd.Series | None, spec: Field, length: int) -> tuple[Parsed, tuple[int, str] | None]:
    """Codes and typed distinct values of a column, and its first bad row with the reason (or None)."""
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
    if spec.required:
        bad[-1] = "a value is required"
    if not bad:
        return (codes, typed), None
    rows = np.flatnonzero(np.isin(codes, list(bad)))
    return (codes, typed), ((int(rows[0]), bad[int(codes[rows[0]])]) if len(rows) else None)


def _python_values(distinct: Any) -> list[object]:
    """Distinct values as the Python objects the grammar reads (dates from datetime64, floats from float64)."""
    if isinstance(distinct, pd.DatetimeIndex):
        return list(distinct.to_pydatetime())
    values: list[object] = np.asarray(distinct, dtype=object).tolist()
    return values


def _typed_column(spec: Field, codes: np.ndarray, typed: list[Value]) -> pd.Series | pd.Categorical | np.ndarray:
    """Rows of typed values: categoricals for codes, datetime64[s] for dates, int32 or float32 for numbers."""
    if spec.kind in ("carrier", "airport"):
        category_codes, categories = pd.factorize(np.asarray(typed, dtype=object))
        rows = np.append(category_codes, -1)[codes]  # code -1 (absent) takes the -1 at the end
        return pd.Categorical.from_codes(rows, categories=pd.Index(categories, dtype=object))
    if spec.kind == "date":
        days: np.ndarray = np.array([*typed, None], dtype="datetime64[D]")[codes]
        return days.astype("datetime64[s]")
    numbers: np.ndarray = np.array([np.nan if v is None else v for v in typed] + [np.nan], dtype="float64")[codes]
    return numbers.astype("int32" if spec.kind in ("int", "hhmm") and spec.required else "float32")


def hhmm_parts(numbers: Any) -> tuple[Any, Any]:
    """Hours and minutes of whole HHMM numbers: floor of a division, since NumPy's float // and % cost 3x."""
    hours = np.floor(numbers / 100)
    return hours, numbers - hours * 100
