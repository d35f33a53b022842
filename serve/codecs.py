"""One codec per media type: request bodies to rows of raw fields, predictions to response bodies.

Nothing here knows about HTTP frameworks or the model: a codec turns bytes into
a `RawTable` (rows of raw strings or JSON scalars, and which column holds which
canonical field), and `Predictions` back into bytes. For the commonest body, one
plainly written record, `decode_record` gives the validated record directly.
"""

from __future__ import annotations

import codecs as text_codecs
import csv
import io
import json
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, ClassVar, Protocol

import numpy as np
import orjson
import pandas as pd

from delaycast.errors import InvalidInput
from delaycast.fields import COLUMN_ALIASES, FIELD_NAMES, FIELDS_BY_NAME, REQUIRED_FIELDS
from delaycast.records import Record, plain_csv_record, plain_json_record
from serve.errors import NotAcceptable, UnsupportedMediaType

DELAY, NO_DELAY = "delay", "no delay"
BULK_CSV_CHARS = 64 * 1024  # from this size pandas' C reader beats the csv module
CACHED_NAMES_CHARS = 1024  # column names up to this total length have their field positions cached
PLAIN_RECORD_BYTES = 1024  # bodies up to this size may be one plain record (decode_record)
Column = Sequence[Any] | np.ndarray | pd.Categorical
_LOWER_ALIASES = {name.lower(): field for name, field in COLUMN_ALIASES.items()}
_NUMPY = orjson.OPT_SERIALIZE_NUMPY
# How the bulk CSV reader types each kind of field (see _read_typed).
_BULK_DTYPES = {
    "carrier": "category",
    "airport": "category",
    "date": "category",
    "int": "float64",
    "hhmm": "float64",
    "float": "float64",
}


@dataclass(frozen=True)
class Predictions:
    """Delay probabilities of a batch of records and how to label them."""

    probabilities: np.ndarray | tuple[float]  # a tuple for one record scored alone: no NumPy on that path
    threshold: float
    model_version: str

    def records(self, delay_head: bytes, no_delay_head: bytes, tail: bytes) -> bytes:
        """Each record as its label's head, its probability and `tail`, all concatenated.

        One orjson call writes every probability (the shortest text that reads back to the same
        float); nothing is formatted per record.
        """
        if len(self.probabilities) == 1:  # most requests: no arrays to build
            probability = float(self.probabilities[0])
            head = delay_head if probability >= self.threshold else no_delay_head
            return head + number_text(probability) + tail
        if not len(self.probabilities):
            return b""
        probabilities = np.ascontiguousarray(self.probabilities, dtype="float64")
        texts = orjson.dumps(probabilities, option=_NUMPY)[1:-1]
        delayed = (probabilities >= self.threshold).tolist()
        parts = [tail] * (3 * len(delayed))
        parts[0::3] = [delay_head if is_delayed else no_delay_head for is_delayed in delayed]
        parts[1::3] = texts.split(b",")
        return b"".join(parts)

    def json_records(self, separator: bytes) -> bytes:
        """Every record as a JSON object, each followed by `separator`."""
        head = b'{"prediction":"%s","probability":'
        tail = b',"threshold":' + number_text(self.threshold) + b"}" + separator
        return self.records(head % DELAY.encode(), head % NO_DELAY.encode(), tail)


def number_text(value: float) -> bytes:
    """A float as JSON and CSV write it: the shortest text that reads back to the same number."""
    return orjson.dumps(float(value))


class Codec(Protocol):
    """Decodes request bodies and encodes responses of one media type."""

    media_type: ClassVar[str]

    def decode(self, body: bytes, charset: str) -> RawTable:
        """The rows of a request body, with the position of each canonical field."""
        ...

    def decode_record(self, body: bytes, charset: str) -> Record | None:
        """The one validated record of a body that holds a single plainly written record, else None.

        A shortcut for the commonest request: None sends the body to `decode`, which reads every
        form and names what is wrong.
        """
        ...

    def encode(self, predictions: Predictions) -> bytes:
        """A response body for the predictions."""
        ...


def parse_media_type(header: str | None) -> tuple[str, dict[str, str]]:
    """`text/csv; charset=utf-8` -> ("text/csv", {"charset": "utf-8"}); case-insensitive type."""
    if not header or not header.strip():
        return "", {}
    kind, *parameters = header.split(";")
    params = {}
    for parameter in parameters:
        key, _, value = parameter.partition("=")
        params[key.strip().lower()] = value.strip().strip('"')
    return kind.strip().lower(), params


def canonical_column(name: str) -> str | None:
    """The field a column or key names: ours, Kaggle's or BTS's (case-insensitive), else None."""
    text = name.strip()
    return COLUMN_ALIASES.get(text) or _LOWER_ALIASES.get(text.lower())


def decode_text(body: bytes, charset: str) -> str:
    """Body bytes as text; a UTF-8 byte-order mark is dropped."""
    encoding = charset or "utf-8"
    try:
        text_codecs.lookup(encoding)
    except (LookupError, ValueError):  # ValueError: a NUL in the name
        raise UnsupportedMediaType(f"unknown charset {encoding!r}") from None
    if _is_utf8(encoding):
        encoding = "utf-8-sig"
    try:
        return body.decode(encoding)
    except UnicodeDecodeError as error:
        raise InvalidInput(f"the body is not valid {charset or 'utf-8'} text (byte {error.start})") from None
    except UnicodeError:  # codecs such as idna, punycode or undefined fail without a position
        raise InvalidInput(f"the body is not valid {charset} text") from None
    except LookupError:  # a codec that is not a text encoding: base64, rot13, zlib...
        raise UnsupportedMediaType(f"charset {encoding!r} is not a text encoding") from None


def _is_utf8(encoding: str) -> bool:
    return encoding.lower().replace("_", "-") in ("utf-8", "utf8")


def _may_be_plain(body: bytes, charset: str) -> bool:
    """Whether a body is short and UTF-8 (the default charset), as a plain record is."""
    return len(body) <= PLAIN_RECORD_BYTES and _is_utf8(charset or "utf-8")


def split_lines(text: str) -> list[str]:
    """Lines ended by \\n, \\r\\n or \\r, as pandas' C reader ends them and JSON strings cannot hold.

    (str.splitlines also ends lines at \\x1c, \\x85, \\u2028... which can sit inside a CSV field or a JSON string.)
    """
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")


@dataclass(frozen=True)
class RawTable:
    """Decoded values by column, and which column holds which canonical field; values are unchecked.

    A column is a list of raw values (strings, JSON scalars), or what pandas' C reader typed when every
    cell of it parsed: a categorical of texts for a code or date field, floats for a numeric field.
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
        """All rows as a frame of the fields sent: typed columns keep their type, raw ones are object columns."""
        return pd.DataFrame({f: _series(self.columns[i]) for f, i in self.positions.items()})


def _series(column: Column) -> pd.Series:
    typed = isinstance(column, pd.Categorical) or (isinstance(column, np.ndarray) and column.dtype != object)
    return pd.Series(column, dtype=None if typed else object)


def table_from_columns(names: Sequence[str], columns: list[Column], length: int) -> RawTable:
    """Columns under the given names; unknown names are ignored, a missing required field is an error."""
    return RawTable(positions_of(names), columns, length)


def positions_of(names: Sequence[str]) -> dict[str, int]:
    """`field_positions`, cached for short headers."""
    key = tuple(names)
    return _cached_positions(key) if sum(map(len, key)) <= CACHED_NAMES_CHARS else field_positions(key)


def field_positions(names: Sequence[str]) -> dict[str, int]:
    """Which column holds each canonical field; refuses a field given twice or a required one missing."""
    fields: dict[str, int] = {}
    for position, name in enumerate(names):
        field = canonical_column(name)
        if field is None:
            continue
        if field in fields:
            raise InvalidInput(f"columns {names[fields[field]]!r} and {name!r} both give field {field}")
        fields[field] = position
    missing = [name for name in REQUIRED_FIELDS if name not in fields]
    if missing:
        raise InvalidInput(f"missing required column(s): {', '.join(missing)}")
    return fields


# Nearly every request repeats one of a few short headers (or none: the manifest's order).
_cached_positions = lru_cache(maxsize=256)(field_positions)


def table_from_rows(names: Sequence[str], rows: list[list[Any]]) -> RawTable:
    """Rows (padded with "" to the width of `names`) under the given names."""
    width = len(names)
    padded = [row if len(row) == width else row + [""] * (width - len(row)) for row in rows]
    return table_from_columns(names, [list(column) for column in zip(*padded, strict=True)], len(rows))


def is_header(cells: Sequence[str]) -> bool:
    """A first CSV row that names at least one field is a header."""
    return not _LOWER_ALIASES.keys().isdisjoint(map(str.lower, map(str.strip, cells)))


def column_names(header: Sequence[str] | None, widths: Sequence[int]) -> Sequence[str]:
    """The header, or the manifest's field order; refuses rows whose width does not fit."""
    if not widths:
        raise InvalidInput("the CSV has a header but no data rows")
    if header is not None:
        for number, width in enumerate(widths, start=1):
            if width != len(header):
                raise InvalidInput(f"record {number} has {width} fields but the header has {len(header)}")
        return header
    low, high = len(REQUIRED_FIELDS), len(FIELD_NAMES)
    for number, width in enumerate(widths, start=1):
        if not low <= width <= high:
            raise InvalidInput(
                f"record {number} has {width} fields; without a header send {low} to {high} fields "
                f"in this order: {','.join(FIELD_NAMES)}"
            )
    return FIELD_NAMES[: max(widths)]


class CsvCodec:
    """text/csv: rows with or without a header; without one, the manifest's field order.

    Large bodies without quotes are parsed by pandas' C reader (field counts
    checked per line first); everything else by the csv module.
    """

    media_type: ClassVar[str] = "text/csv"

    def decode_record(self, body: bytes, charset: str) -> Record | None:
        return plain_csv_record(body) if _may_be_plain(body, charset) else None

    def decode(self, body: bytes, charset: str) -> RawTable:
        text = decode_text(body, charset)
        quoted = '"' in text
        if len(text) >= BULK_CSV_CHARS and not quoted:
            return self._bulk(text)
        if quoted:
            try:
                rows = [row for row in csv.reader(io.StringIO(text, newline="")) if row]
            except csv.Error as error:  # a field over csv.field_size_limit() (128 KiB)
                raise InvalidInput(f"the body is not valid CSV: {error}") from None
        else:  # without quotes, the csv module's rows are exactly the comma-split lines
            rows = [line.split(",") for line in split_lines(text) if line]
        if not rows:
            raise InvalidInput("the body holds no CSV rows")
        header = rows[0] if is_header(rows[0]) else None
        data = rows[1:] if header is not None else rows
        return table_from_rows(column_names(header, [len(row) for row in data]), data)

    @classmethod
    def _bulk(cls, text: str) -> RawTable:
        return cls._uniform_bulk(text) or cls._checked_bulk(text)

    @staticmethod
    def _uniform_bulk(text: str) -> RawTable | None:
        """Rows as wide as the first line, read by pandas in one pass; None unless that is certain.

        pandas refuses a row longer than the first (or turns the extra cells into an index), and a shorter
        row shows in the total comma count. pandas skips lines of blanks, which must be refused: text
        with blanks takes the line-by-line path.
        """
        if any(blank in text for blank in " \t\f\v"):
            return None
        first = split_lines(text.lstrip("\r\n")[:BULK_CSV_CHARS])[0].split(",")
        header = first if is_header(first) else None
        width = len(first)
        if header is None and not len(REQUIRED_FIELDS) <= width <= len(FIELD_NAMES):
            return None
        names = header if header is not None else FIELD_NAMES[:width]
        data = text.encode()
        try:
            frame = _read_typed(data, names, header is not None)
            if frame is None:
                frame = _read_cells(data, header is not None, ["str"] * width)
        except pd.errors.ParserError:
            return None
        lines = len(frame) + (header is not None)
        if frame.empty or not isinstance(frame.index, pd.RangeIndex) or data.count(b",") != lines * (width - 1):
            return None
        return table_from_columns(names, [_column(frame[i]) for i in range(width)], len(frame))

    @staticmethod
    def _checked_bulk(text: str) -> RawTable:
        """Every line's field count checked first, so that a bad row is named; then pandas reads the rows."""
        lines = [line for line in split_lines(text) if line]
        if not lines:
            raise InvalidInput("the body holds no CSV rows")
        first = lines[0].split(",")
        header = first if is_header(first) else None
        data = lines[1:] if header is not None else lines
        names = column_names(header, [line.count(",") + 1 for line in data])
        frame = _read_cells(text.encode(), header is not None, ["str"] * len(names))
        return table_from_columns(names, [frame[i].to_numpy() for i in range(len(names))], len(frame))

    def encode(self, predictions: Predictions) -> bytes:
        tail = b"," + number_text(predictions.threshold) + b"\n"
        return predictions.records(DELAY.encode() + b",", NO_DELAY.encode() + b",", tail)


def _read_typed(data: bytes, names: Sequence[str], has_header: bool) -> pd.DataFrame | None:
    """Cells typed by pandas' C reader, without a Python object per cell: code and date fields as categoricals
    of their texts, numeric fields as floats; None unless every cell of every field read plainly.

    A numeric cell that is not a plain number ("", "nan", "0x1A") fails the read, or reads as NaN: the
    caller then reads texts, so that validation names the row. Categories that pandas made numbers
    ("09" -> 9) lost their text: also None.
    """
    dtypes = {position: _BULK_DTYPES[FIELDS_BY_NAME[field].kind] for field, position in positions_of(names).items()}
    try:
        frame = _read_cells(data, has_header, [dtypes.get(position, "str") for position in range(len(names))])
    except ValueError:  # a cell that is not a number (ParserError, a ValueError too: the text's shape)
        return None
    plain = all(
        pd.api.types.is_string_dtype(frame[position].cat.categories)
        if dtype == "category"
        else not frame[position].isna().any()
        for position, dtype in dtypes.items()
    )
    return frame if plain else None


def _column(series: pd.Series) -> Column:
    return series.array if isinstance(series.dtype, pd.CategoricalDtype) else series.to_numpy()


def _read_cells(data: bytes, has_header: bool, dtypes: Sequence[str]) -> pd.DataFrame:
    """Every cell of UTF-8 CSV `data` as the dtype of its column ("str": as text, a missing one as ""), columns
    numbered from 0, by pandas' C reader. It reads bytes: given text, it encodes it again, chunk by chunk
    (the 100k-row bench batch: 29.0 ms from bytes, 42.8 from text)."""
    return pd.read_csv(
        io.BytesIO(data),
        header=0 if has_header else None,
        names=list(range(len(dtypes))),
        dtype=dict(enumerate(dtypes)),
        keep_default_na=False,
        na_filter=False,
    )


class JsonCodec:
    """application/json: one record, a list of records, or {"instances": [...]}."""

    media_type: ClassVar[str] = "application/json"

    def decode_record(self, body: bytes, charset: str) -> Record | None:
        """One JSON object of canonical field names and plain values (`plain_json_record`), validated."""
        if not _may_be_plain(body, charset):
            return None
        try:
            # orjson refuses NaN and lone surrogates, which json reads, and reads integers beyond 64 bits
            # as floats: no field accepts such a number, so the general path names them.
            document = orjson.loads(body)
        except orjson.JSONDecodeError:
            return None
        return plain_json_record(document) if type(document) is dict else None

    def decode(self, body: bytes, charset: str) -> RawTable:
        document = load_json(decode_text(body, charset), "the body")
        if isinstance(document, dict) and "instances" in document:
            document = document["instances"]
        records = document if isinstance(document, list) else [document]
        return table_from_records(records)

    def encode(self, predictions: Predictions) -> bytes:
        version = orjson.dumps(predictions.model_version)
        return b'{"model_version":%s,"predictions":[%s]}' % (version, predictions.json_records(b",")[:-1])


class JsonLinesCodec:
    """application/jsonlines: one record (object or positional list) per line."""

    media_type: ClassVar[str] = "application/jsonlines"

    def decode_record(self, body: bytes, charset: str) -> Record | None:
        return None

    def decode(self, body: bytes, charset: str) -> RawTable:
        lines = [line for line in split_lines(decode_text(body, charset)) if line.strip()]
        return table_from_records([load_json(line, f"line {n}") for n, line in enumerate(lines, start=1)])

    def encode(self, predictions: Predictions) -> bytes:
        return predictions.json_records(b"\n")


def load_json(text: str, where: str) -> Any:
    """Parse JSON; syntax errors and absurd nesting are the caller's mistake."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise InvalidInput(
            f"{where} is not valid JSON: {error.msg} at line {error.lineno} column {error.colno}"
        ) from None
    except RecursionError:
        raise InvalidInput(f"{where} is nested too deeply") from None
    except ValueError:  # an integer longer than sys.get_int_max_str_digits()
        raise InvalidInput(f"{where} holds a number with more than {sys.get_int_max_str_digits()} digits") from None


def table_from_records(records: list[Any]) -> RawTable:
    """Rows from JSON records: objects keyed by field names, or positional lists."""
    if not records:
        raise InvalidInput("no records to score")
    if all(isinstance(r, list) for r in records):
        rows = [[_scalar(v, n, i) for i, v in enumerate(r)] for n, r in enumerate(records, 1)]
        return table_from_rows(column_names(None, [len(row) for row in rows]), rows)
    keys: dict[str, None] = {}
    for number, record in enumerate(records, start=1):
        if not isinstance(record, dict):
            raise InvalidInput(f"record {number} is a JSON {type(record).__name__}, not an object with flight fields")
        keys.update(dict.fromkeys(record))
    names = list(keys)
    columns = [[_scalar(r.get(k), n, k) for n, r in enumerate(records, start=1)] for k in names]
    return table_from_columns(names, list(columns), len(records))


def _scalar(value: Any, record: int, field: object) -> Any:
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > sys.float_info.max:
        return math.inf if value > 0 else -math.inf  # beyond float range: as the same digits in CSV read
    if value is None or (isinstance(value, str | int | float) and not isinstance(value, bool)):
        return value
    raise InvalidInput(f"record {record}, field {field}: expected a string or number, got JSON {type(value).__name__}")


CODECS: dict[str, Codec] = {codec.media_type: codec for codec in (CsvCodec(), JsonCodec(), JsonLinesCodec())}
# Names clients commonly use for the same formats.
CODEC_ALIASES = {
    "application/x-jsonlines": "application/jsonlines",
    "application/jsonl": "application/jsonlines",
    "application/x-ndjson": "application/jsonlines",
    "application/csv": "text/csv",
}


@lru_cache(maxsize=256)
def request_codec(content_type: str | None) -> tuple[Codec, str]:
    """The codec and charset for a Content-Type header; 415 when none fits. Cached: clients repeat a few."""
    media_type, params = parse_media_type(content_type)
    codec = CODECS.get(CODEC_ALIASES.get(media_type, media_type))
    if codec is None:
        supported = ", ".join(CODECS)
        raise UnsupportedMediaType(f"Content-Type {media_type or '(none)'!r} is not supported; send one of {supported}")
    return codec, params.get("charset", "")


def response_codec(accepted: Sequence[tuple[str, float]]) -> Codec:
    """The best codec for parsed Accept entries (type, quality); JSON when none is given; 406 when none fits."""
    ranked = sorted(((q, i, kind) for i, (kind, q) in enumerate(accepted) if q > 0), key=lambda t: (-t[0], t[1]))
    if not accepted:
        return CODECS[JsonCodec.media_type]
    for _, _, kind in ranked:
        kind = CODEC_ALIASES.get(kind.lower(), kind.lower())
        if kind in ("*/*", "application/*"):
            return CODECS[JsonCodec.media_type]
        if kind == "text/*":
            return CODECS[CsvCodec.media_type]
        if kind in CODECS:
            return CODECS[kind]
    raise NotAcceptable(f"cannot answer in {', '.join(k for k, _ in accepted)}; accept one of {', '.join(CODECS)}")
