"""One codec per media type: request bodies to rows of raw fields, predictions to response bodies.

Nothing here knows about the model: a codec turns bytes into a `RawTable` (rows
of raw strings or JSON scalars, and which column holds which field), and
`Predictions` back into bytes (both in `serve.payloads`). Media types and Accept
headers are parsed by werkzeug. For the commonest body, one
plainly written record, `decode_record` gives the validated record directly.
"""

from __future__ import annotations

import codecs as text_codecs
import csv
import io
import json
import sys
from collections.abc import Sequence
from functools import lru_cache
from typing import Any, ClassVar, Protocol

import numpy as np
import orjson
import pandas as pd
from werkzeug.datastructures import MIMEAccept
from werkzeug.http import parse_accept_header, parse_options_header

from delaycast.errors import InvalidInput
from delaycast.fields import FIELD_NAMES, REQUIRED_FIELDS, BadValue
from delaycast.records import (
    Record,
    RecordError,
    canonical_name,
    check_width,
    field_positions,
    plain_csv_record,
    plain_json_record,
    record_values,
)
from serve.errors import NotAcceptable, UnsupportedMediaType
from serve.payloads import Predictions, RawTable

DELAY, NO_DELAY = "delay", "no delay"
BULK_CSV_CHARS = 64 * 1024  # from this size pandas' C reader beats the csv module
CACHED_NAMES_CHARS = 1024  # column names up to this total length have their field positions cached
PLAIN_RECORD_BYTES = 1024  # bodies up to this size may be one plain record (decode_record)
_NUMPY = orjson.OPT_SERIALIZE_NUMPY


def encoded_records(predictions: Predictions, delay_head: bytes, no_delay_head: bytes, tail: bytes) -> bytes:
    """Each record as its label's head, its probability and `tail`, all concatenated.

    One orjson call writes every probability (the shortest text that reads back to the same
    float); nothing is formatted per record.
    """
    probabilities, threshold = predictions.probabilities, predictions.threshold
    if len(probabilities) == 1:  # most requests: no arrays to build
        probability = float(probabilities[0])
        head = delay_head if probability >= threshold else no_delay_head
        return head + number_text(probability) + tail
    if not len(probabilities):
        return b""
    array = np.ascontiguousarray(probabilities, dtype="float64")
    texts = orjson.dumps(array, option=_NUMPY)[1:-1]
    delayed = (array >= threshold).tolist()
    parts = [tail] * (3 * len(delayed))
    parts[0::3] = [delay_head if is_delayed else no_delay_head for is_delayed in delayed]
    parts[1::3] = texts.split(b",")
    return b"".join(parts)


def json_records(predictions: Predictions, separator: bytes) -> bytes:
    """Every record as a JSON object, each followed by `separator`."""
    head = b'{"prediction":"%s","probability":'
    tail = b',"threshold":' + number_text(predictions.threshold) + b"}" + separator
    return encoded_records(predictions, head % DELAY.encode(), head % NO_DELAY.encode(), tail)


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


def header_positions(names: Sequence[str]) -> dict[str, int]:
    """Which column of a CSV header holds each field (`field_positions`); cached for short headers."""
    key = tuple(names)
    try:
        return _cached_positions(key) if sum(map(len, key)) <= CACHED_NAMES_CHARS else field_positions(key)
    except BadValue as error:
        raise InvalidInput(f"the CSV header: {error.reason}") from None


# Nearly every request repeats one of a few short headers (or none: the manifest's order).
_cached_positions = lru_cache(maxsize=256)(field_positions)


def table_from_rows(names: Sequence[str], rows: list[list[Any]]) -> RawTable:
    """Rows (padded with "" to the width of `names`) under the given names."""
    width = len(names)
    padded = [row if len(row) == width else row + [""] * (width - len(row)) for row in rows]
    return RawTable(header_positions(names), [list(column) for column in zip(*padded, strict=True)], len(rows))


def is_header(cells: Sequence[str]) -> bool:
    """A first CSV row that names at least one field is a header."""
    return any(canonical_name(cell) is not None for cell in cells)


def column_names(header: Sequence[str] | None, widths: Sequence[int]) -> Sequence[str]:
    """The header, or the manifest's field order; refuses rows whose width does not fit."""
    if not widths:
        raise InvalidInput("the CSV has a header but no data rows")
    if header is not None:
        for index, width in enumerate(widths):
            if width != len(header):
                raise RecordError(index, None, f"{width} fields, but the header has {len(header)}")
        return header
    for index, width in enumerate(widths):
        check_width(width, index)
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
        positions = header_positions(names)
        data = text.encode()
        try:
            frame = _read_cells(data, header is not None, width)
        except pd.errors.ParserError:
            return None
        lines = len(frame) + (header is not None)
        if frame.empty or not isinstance(frame.index, pd.RangeIndex) or data.count(b",") != lines * (width - 1):
            return None
        return RawTable(positions, [frame[i].to_numpy() for i in range(width)], len(frame))

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
        positions = header_positions(names)
        frame = _read_cells(text.encode(), header is not None, len(names))
        return RawTable(positions, [frame[i].to_numpy() for i in range(len(names))], len(frame))

    def encode(self, predictions: Predictions) -> bytes:
        tail = b"," + number_text(predictions.threshold) + b"\n"
        return encoded_records(predictions, DELAY.encode() + b",", NO_DELAY.encode() + b",", tail)


def _read_cells(data: bytes, has_header: bool, width: int) -> pd.DataFrame:
    """Every cell of UTF-8 CSV `data` as its text (a missing one as ""), columns numbered from 0, by pandas' C
    reader. Texts, not numbers or categoricals: pandas reads "1e3" as a number, and infers number categories
    from number-like texts, where the grammar refuses what an integer field does not allow. It reads bytes:
    given text, it encodes it again, chunk by chunk (the 100k-row bench batch: 29.0 ms from bytes, 42.8
    from text)."""
    return pd.read_csv(
        io.BytesIO(data),
        header=0 if has_header else None,
        names=list(range(width)),
        dtype=str,
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
        return b'{"model_version":%s,"predictions":[%s]}' % (version, json_records(predictions, b",")[:-1])


class JsonLinesCodec:
    """application/jsonlines: one record (object or positional list) per line."""

    media_type: ClassVar[str] = "application/jsonlines"

    def decode_record(self, body: bytes, charset: str) -> Record | None:
        return None

    def decode(self, body: bytes, charset: str) -> RawTable:
        lines = [line for line in split_lines(decode_text(body, charset)) if line.strip()]
        return table_from_records([load_json(line, f"line {n}") for n, line in enumerate(lines, start=1)])

    def encode(self, predictions: Predictions) -> bytes:
        return json_records(predictions, b"\n")


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
        return table_from_rows(column_names(None, [len(r) for r in records]), records)
    rows = [record_values(record, index) for index, record in enumerate(records)]
    return RawTable(_ALL_FIELDS, [list(column) for column in zip(*rows, strict=True)], len(rows))


_ALL_FIELDS = {name: position for position, name in enumerate(FIELD_NAMES)}


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
    media_type, params = parse_options_header(content_type)
    codec = codec_named(media_type)
    if codec is None:
        supported = ", ".join(CODECS)
        kind = media_type.lower() or "(none)"
        raise UnsupportedMediaType(f"Content-Type {kind!r} is not supported; send one of {supported}")
    return codec, params.get("charset", "")


def codec_named(media_type: str) -> Codec | None:
    """The codec of a media type or one of its common aliases (case-insensitive), else None."""
    kind = media_type.strip().lower()
    return CODECS.get(CODEC_ALIASES.get(kind, kind))


def response_codec(accept: str | None, default: Codec) -> Codec:
    """The codec that best fits an Accept header (werkzeug's ranking), `default` for none or */*; 406 when none
    fits."""
    accepted = parse_accept_header(accept, MIMEAccept)
    if not accepted or accept == "*/*":
        return default
    best = accepted.best_match(_OFFERED)
    if best is None:
        offered = ", ".join(CODECS)
        raise NotAcceptable(f"cannot answer in {', '.join(k for k, _ in accepted)}; accept one of {offered}")
    codec = codec_named(best)
    assert codec is not None  # every offer names a codec
    return codec


_OFFERED = (*CODECS, *CODEC_ALIASES)  # JSON first: what */* and application/* get
