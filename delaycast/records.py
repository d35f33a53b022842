"""The reference validator of records: pure Python, shipped in the Lambda package and used by the server.

`validate_record` types one record's raw values with each field's grammar
(`Field.parse`); `record_values` takes a JSON object's values in field order.
Names (JSON keys and CSV header columns alike) follow one policy, `field_positions`:
our field names and the Kaggle / BTS column names, case-insensitive; a name that is
no field is refused, and so is a field named twice. Records are numbered from 0 in every message,
as JSON indexes are: `record 2, field crs_dep_time: '25:00' is not a time ...`.

The accelerators are held to this module by property tests: `delaycast.schema.coerce_frame`
(pandas, for bulk bodies and training files) applies `Field.parse` to each distinct value of a
column, and `plain_csv_record` / `plain_json_record` read the plainest single records in C
(`delaycast._native_records`) or give None, leaving the record to `validate_record`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from delaycast.errors import InvalidInput
from delaycast.fields import (
    BLANKS,
    COLUMN_ALIASES,
    FIELD_NAMES,
    FIELDS,
    REQUIRED_FIELDS,
    BadValue,
    Value,
    json_type,
    shown,
)

if TYPE_CHECKING:
    from delaycast._native_records import PlainRecordReader

Record = tuple[Value, ...]
_LOWER_ALIASES = {name.lower(): field for name, field in COLUMN_ALIASES.items()}
CACHED_NAMES_CHARS = 1024
REFUSED_LABEL = "error"  # a CSV answer's label for a refused record, where a scored one says delay or no delay


class RecordError(InvalidInput):
    """A record, or one of its values, that does not fit the schema; `index` counts records from 0."""

    def __init__(self, index: int, field: str | None, reason: str) -> None:
        where = f"record {index}" if field is None else f"record {index}, field {field}"
        super().__init__(f"{where}: {reason}")
        self.index = index
        self.field = field
        self.reason = reason


def validate_record(values: Sequence[object], index: int) -> Record:
    """One record's raw values in FIELDS order (None where absent), typed and checked."""
    typed = []
    for spec, value in zip(FIELDS, values, strict=True):
        try:
            typed.append(spec.parse(value))
        except BadValue as error:
            raise RecordError(index, spec.name, error.reason) from None
    return tuple(typed)


def record_values(document: object, index: int) -> list[object]:
    """A JSON object's values in FIELDS order (None where absent); its keys are named as `field_positions` says."""
    if not isinstance(document, Mapping):
        raise RecordError(index, None, f"expected a flight object, got JSON {json_type(document)}")
    try:
        positions = named_positions(list(document))
    except BadValue as error:
        raise RecordError(index, None, error.reason) from None
    values = list(document.values())
    return [values[positions[name]] if name in positions else None for name in FIELD_NAMES]


def named_positions(names: Sequence[str]) -> dict[str, int]:
    """`field_positions`, cached for short lists of names: the records of a batch, and headers, repeat a few.

    Long names (which name no field) are not kept. The dict is shared: callers do not change it.
    """
    key = tuple(names)
    return _cached_positions(key) if sum(map(len, key)) <= CACHED_NAMES_CHARS else field_positions(key)


def canonical_name(name: str) -> str | None:
    """The field a JSON key or CSV column names: ours, Kaggle's or BTS's, blanks and case ignored; else None."""
    text = name.strip(BLANKS)
    return COLUMN_ALIASES.get(text) or _LOWER_ALIASES.get(text.lower())


def field_positions(names: Sequence[str]) -> dict[str, int]:
    """Which position holds each field named; BadValue for a name that is no field, or a field named twice.

    The one policy for JSON keys and CSV header columns alike. A field that is not named is absent.
    """
    positions: dict[str, int] = {}
    for position, name in enumerate(names):
        field = canonical_name(name)
        if field is None:
            raise BadValue(f"unknown field {shown(name)}; the fields are {', '.join(FIELD_NAMES)}")
        if field in positions:
            raise BadValue(f"{shown(names[positions[field]])} and {shown(name)} both give field {field}")
        positions[field] = position
    return positions


_cached_positions = lru_cache(maxsize=256)(field_positions)


def check_width(width: int, index: int) -> None:
    """Refuse a header-less CSV row of too few or too many cells (fields in FIELDS order)."""
    low, high = len(REQUIRED_FIELDS), len(FIELD_NAMES)
    if not low <= width <= high:
        order = ",".join(FIELD_NAMES)
        raise RecordError(index, None, f"{width} fields; without a header send {low} to {high} in this order: {order}")


def plain_csv_record(line: bytes) -> Record | None:
    """The record of one header-less CSV line of plain cells in FIELDS order, as `validate_record` gives it.

    None for anything else (more lines, quotes, blanks, lower case, colons, a value out of range...), and
    for everything when the C reader is not built: the general path then reads the body and names what
    is wrong.
    """
    return None if _PLAIN_READER is None else _PLAIN_READER.csv_line(line)


def plain_json_record(document: dict[str, Any]) -> Record | None:
    """The record of a JSON object of FIELDS names and plain values, as `validate_record` gives it.

    Plain values: upper-case codes and YYYY-MM-DD dates as strings, numbers as JSON numbers (whole ones
    for whole fields), null for an absent optional field. None for anything else, as `plain_csv_record`.
    """
    return None if _PLAIN_READER is None else _PLAIN_READER.json_object(document)


def _plain_reader() -> PlainRecordReader | None:
    try:
        from delaycast._native_records import PlainRecordReader
    except ImportError:  # not built (container/build-native): every record takes the general path
        return None
    return PlainRecordReader(FIELDS)


_PLAIN_READER = _plain_reader()
