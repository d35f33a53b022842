"""One codec per media type: request bodies to rows of raw fields, predictions to response bodies.

Nothing here knows about the model: a codec turns bytes into a `RawTable` (rows
of raw strings or JSON scalars, and which column holds which field), and
`Predictions` back into bytes (both in `serve.payloads`). Media types and Accept
headers are parsed by werkzeug. For the commonest body, one
plainly written record, `decode_record` gives the validated record directly.

Every line of a body is a record (a CSV header aside) and keeps its position: a
line the codec cannot read (a blank one, one of the wrong width, JSON that does
not parse) is refused with its reason in the table (`RawTable.refused`), so that
an answer can hold one line per line sent. The final line end ends the last
record; it starts none.
"""

from __future__ import annotations

import codecs as text_codecs
import csv
import io
import json
import sys
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any, ClassVar, Protocol, TypeVar

import numpy as np
import orjson
import pandas as pd
from werkzeug.datastructures import MIMEAccept
from werkzeug.http import parse_accept_header, parse_options_header

from delaycast.errors import InvalidInput
from delaycast.fields import BLANKS, FIELD_NAMES, REQUIRED_FIELDS, BadValue
from delaycast.records import (
    REFUSED_LABEL,
    Record,
    RecordError,
    canonical_name,
    check_width,
    named_positions,
    plain_csv_record,
    plain_json_record,
    record_values,
)
from delaycast.schema import Problem, Refusals, Refuser
from serve.errors import NotAcceptable, UnsupportedMediaType
from serve.payloads import Column, Predictions, RawTable

DELAY, NO_DELAY = "delay", "no delay"
BULK_CSV_CHARS = 64 * 1024  # from this size pandas' C reader beats the csv module
PLAIN_RECORD_BYTES = 1024  # bodies up to this size may be one plain record (decode_record)
BLANK_LINE = "a blank line"
_NUMPY = orjson.OPT_SERIALIZE_NUMPY
Row = TypeVar("Row")


def encoded_records(
    predictions: Predictions, delay_head: bytes, no_delay_head: bytes, tail: bytes, refused: Callable[[str], bytes]
) -> bytes:
    """Each record as its label's head, its probability and `tail`, all concatenated; a refused record as
    `refused` of its problem (`refusal_text`), in its place.

    One orjson call writes every probability (the shortest text that reads back to the same
    float); nothing is formatted per record.
    """
    probabilities, threshold = predictions.probabilities, predictions.threshold
    if predictions.refused is not None:
        parts = _record_parts(probabilities, threshold, delay_head, no_delay_head, tail)
        return b"".join(_with_refusals(parts, predictions.refused, refused))
    if len(probabilities) == 1:  # most requests: no arrays to build
        probability = float(probabilities[0])
        head = delay_head if probability >= threshold else no_delay_head
        return head + number_text(probability) + tail
    return b"".join(_record_parts(probabilities, threshold, delay_head, no_delay_head, tail))


def _record_parts(
    probabilities: np.ndarray | tuple[float], threshold: float, delay_head: bytes, no_delay_head: bytes, tail: bytes
) -> list[bytes]:
    """Three parts per record: its label's head, its probability, `tail`."""
    if not len(probabilities):
        return []
    array = np.ascontiguousarray(probabilities, dtype="float64")
    texts = orjson.dumps(array, option=_NUMPY)[1:-1]
    delayed = (array >= threshold).tolist()
    parts = [tail] * (3 * len(delayed))
    parts[0::3] = [delay_head if is_delayed else no_delay_head for is_delayed in delayed]
    parts[1::3] = texts.split(b",")
    return parts


def _with_refusals(parts: list[bytes], refusals: Refusals, refused: Callable[[str], bytes]) -> list[bytes]:
    """The scored records' parts (three each) with each refused record's line in its place."""
    lines = [refused(refusal_text(problem)) for problem in refusals.reasons]
    out: list[bytes] = []
    scored = previous = 0
    for row in np.flatnonzero(refusals.problems >= 0).tolist():
        run = row - previous  # the scored records before this refused one
        out += parts[3 * scored : 3 * (scored + run)]
        out.append(lines[refusals.problems[row]])
        scored, previous = scored + run, row + 1
    out += parts[3 * scored :]
    return out


def refusal_text(problem: Problem) -> str:
    """What a refused record's answer says: `field NAME: reason`, or the reason for the record as a whole."""
    field, reason = problem
    return reason if field is None else f"field {field}: {reason}"


def json_records(predictions: Predictions, separator: bytes) -> bytes:
    """Every record as a JSON object, each followed by `separator`; a refused one as `{"error", "detail"}`."""
    head = b'{"prediction":"%s","probability":'
    tail = b',"threshold":' + number_text(predictions.threshold) + b"}" + separator
    error = b'{"error":%s,"detail":' % orjson.dumps(InvalidInput.title)
    return encoded_records(
        predictions,
        head % DELAY.encode(),
        head % NO_DELAY.encode(),
        tail,
        lambda text: error + orjson.dumps(text) + b"}" + separator,
    )


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


def body_lines(text: str) -> list[str]:
    """The lines of a body (`split_lines`): a final line end ends the last line and starts none."""
    lines = split_lines(text)
    if not lines[-1]:
        lines.pop()
    return lines


def has_blank_line(text: str) -> bool:
    """Whether some line of the body is empty (not counting what follows its final line end)."""
    return text[:1] in ("\n", "\r") or "\n\n" in text or "\r\r" in text or "\n\r" in text


def header_positions(names: Sequence[str]) -> dict[str, int]:
    """Which column of a CSV header holds each field (`named_positions`)."""
    try:
        return named_positions(names)
    except BadValue as error:
        raise InvalidInput(f"the CSV header: {error.reason}") from None


def table_from_rows(header: Sequence[str] | None, rows: list[list[Any]], blank: str | None) -> RawTable:
    """Rows under the header, else in FIELDS order (padded with "" to the widest); rows whose width does not fit
    are refused (`width_refusals`), an empty one for `blank` if given."""
    refused = width_refusals([len(row) for row in rows], header, blank)
    if refused.reasons:
        rows = [row for row, problem in zip(rows, refused.problems.tolist(), strict=True) if problem < 0]
    names = header if header is not None else FIELD_NAMES[: max(map(len, rows), default=len(REQUIRED_FIELDS))]
    width = len(names)
    padded = [row if len(row) == width else row + [""] * (width - len(row)) for row in rows]
    return RawTable(header_positions(names), columns_of(padded, width), len(rows), refused)


def columns_of(rows: list[list[Any]], width: int) -> list[Column]:
    """The columns of rows of `width` cells each."""
    return [list(column) for column in zip(*rows, strict=True)] if rows else [[] for _ in range(width)]


def is_header(cells: Sequence[str]) -> bool:
    """A first CSV row that names at least one field is a header."""
    return any(canonical_name(cell) is not None for cell in cells)


def width_refusals(widths: Sequence[int], header: Sequence[str] | None, blank: str | None) -> Refusals:
    """The rows whose number of cells does not fit: other than the header's, or without one outside
    `check_width`'s range; a row of no cells is refused for `blank` when given."""
    distinct, inverse = np.unique(np.asarray(widths, dtype=np.intp), return_inverse=True)
    lookup = np.full(len(distinct), -1, dtype=np.intp)
    reasons: list[Problem] = []
    for code, width in enumerate(distinct.tolist()):
        reason = blank if width == 0 and blank is not None else _width_problem(width, header)
        if reason is not None:
            lookup[code] = len(reasons)
            reasons.append((None, reason))
    return Refusals(lookup[inverse.reshape(-1)], tuple(reasons))


def _width_problem(width: int, header: Sequence[str] | None) -> str | None:
    if header is not None:
        return None if width == len(header) else f"{width} fields, but the header has {len(header)}"
    try:
        check_width(width, 0)
    except RecordError as error:
        return error.reason
    return None


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
                rows = list(csv.reader(io.StringIO(text, newline="")))  # a blank line is a row of no cells
            except csv.Error as error:  # a field over csv.field_size_limit() (128 KiB)
                raise InvalidInput(f"the body is not valid CSV: {error}") from None
        else:  # without quotes, the csv module's rows are exactly the comma-split lines
            rows = [line_cells(line) for line in body_lines(text)]
        header, data = _split_header(rows, list)
        return table_from_rows(header, data, BLANK_LINE)

    @classmethod
    def _bulk(cls, text: str) -> RawTable:
        return cls._uniform_bulk(text) or cls._checked_bulk(text)

    @staticmethod
    def _uniform_bulk(text: str) -> RawTable | None:
        """Rows as wide as the first line, read by pandas in one pass; None unless that is certain.

        pandas refuses a row longer than the first (or turns the extra cells into an index), and a shorter
        row shows in the total comma count. pandas skips blank lines and lines of blanks, which are records
        to refuse: such text takes the line-by-line path.
        """
        if any(blank in text for blank in " \t\f\v") or has_blank_line(text):
            return None
        first = split_lines(text[:BULK_CSV_CHARS])[0].split(",")
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
        return RawTable(positions, [frame[i].to_numpy() for i in range(width)], len(frame), Refusals.none(len(frame)))

    @staticmethod
    def _checked_bulk(text: str) -> RawTable:
        """Every line's field count checked first, so that each bad row is refused in place; then pandas reads
        the rows that fit."""
        lines = body_lines(text)
        header, data = _split_header(lines, line_cells)
        refused = width_refusals([line.count(",") + 1 if line else 0 for line in data], header, BLANK_LINE)
        if refused.reasons:
            data = [line for line, problem in zip(data, refused.problems.tolist(), strict=True) if problem < 0]
            text = "\n".join([*lines[:1], *data] if header is not None else data)
        widths = (line.count(",") + 1 for line in data)
        names = header if header is not None else FIELD_NAMES[: max(widths, default=len(REQUIRED_FIELDS))]
        positions = header_positions(names)
        if not data:
            return RawTable(positions, columns_of([], len(names)), 0, refused)
        frame = _read_cells(text.encode(), header is not None, len(names))
        return RawTable(positions, [frame[i].to_numpy() for i in range(len(names))], len(frame), refused)

    def encode(self, predictions: Predictions) -> bytes:
        """`label,probability,threshold` per record; `error,"<what is wrong>"` per refused one."""
        tail = b"," + number_text(predictions.threshold) + b"\n"
        return encoded_records(predictions, DELAY.encode() + b",", NO_DELAY.encode() + b",", tail, _csv_refusal)


def _csv_refusal(text: str) -> bytes:
    return REFUSED_LABEL.encode() + b',"' + text.replace('"', '""').encode() + b'"\n'


def line_cells(line: str) -> list[str]:
    """The cells of an unquoted CSV line; none for an empty line, as the csv module reads it."""
    return line.split(",") if line else []


def _split_header(rows: list[Row], cells: Callable[[Row], list[str]]) -> tuple[list[str] | None, list[Row]]:
    """The header (a first row naming a field) and the data rows; InvalidInput when there is nothing to read."""
    if not rows:
        raise InvalidInput("the body holds no CSV rows")
    first = cells(rows[0])
    header = first if is_header(first) else None
    data = rows[1:] if header is not None else rows
    if header is not None and not data:
        raise InvalidInput("the CSV has a header but no data rows")
    return header, data


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
        if not records:
            raise InvalidInput("no records to score")
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
        """One record per line; a blank line, or one that is not JSON, is refused in its place."""
        lines = body_lines(decode_text(body, charset))
        if not lines:
            raise InvalidInput("no records to score")
        refusals = Refuser(len(lines))
        documents = []
        for index, line in enumerate(lines):
            if not line.strip(BLANKS):
                refusals.refuse(index, None, BLANK_LINE)
                continue
            document, problem = parse_json(line)
            if problem is None:
                documents.append(document)
            else:
                refusals.refuse(index, None, f"the line {problem}")
        table = table_from_records(documents)
        return RawTable(table.positions, table.columns, table.length, refusals.done().then(table.refused))

    def encode(self, predictions: Predictions) -> bytes:
        return json_records(predictions, b"\n")


def load_json(text: str, where: str) -> Any:
    """Parse JSON; syntax errors and absurd nesting are the caller's mistake (`parse_json`)."""
    document, problem = parse_json(text)
    if problem is not None:
        raise InvalidInput(f"{where} {problem}")
    return document


def parse_json(text: str) -> tuple[Any, str | None]:
    """A JSON document, or what is wrong with the text ("is not valid JSON: ...", "is nested too deeply"...)."""
    try:
        return json.loads(text), None
    except json.JSONDecodeError as error:
        return None, f"is not valid JSON: {error.msg} at line {error.lineno} column {error.colno}"
    except RecursionError:
        return None, "is nested too deeply"
    except ValueError:  # an integer longer than sys.get_int_max_str_digits()
        return None, f"holds a number with more than {sys.get_int_max_str_digits()} digits"


def table_from_records(records: list[Any]) -> RawTable:
    """Rows from JSON records: objects keyed by field names, or positional lists; any other is refused."""
    if records and all(isinstance(r, list) for r in records):
        return table_from_rows(None, records, blank=None)
    refusals = Refuser(len(records))
    rows = []
    for index, record in enumerate(records):
        try:
            rows.append(record_values(record, index))
        except RecordError as error:
            refusals.refuse(index, error.field, error.reason)
    return RawTable(_ALL_FIELDS, columns_of(rows, len(FIELD_NAMES)), len(rows), refusals.done())


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
