"""The flights in a request body: JSON (one flight object or a list of them) or CSV rows without a header; or
a short-form request (a flight and a date, `delaycast_api.schedule`), handed on as its JSON object.

Every record is checked by the server's own validator (`delaycast.records.validate_record`) and goes to the
endpoint as one CSV line of canonical cells (`Field.text`), so nothing the model server would refuse is sent.
Records are numbered from 0, as the server numbers them: `record 2, field origin: 'JF' is not ...`.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping
from dataclasses import dataclass
from http import HTTPStatus

from delaycast.errors import InvalidInput
from delaycast.fields import FIELD_NAMES, FIELDS, json_type
from delaycast.records import Record, canonical_name, check_width, record_values, validate_record
from delaycast_api.answers import ApiError
from delaycast_api.schedule import is_short_form

JSON, CSV = "application/json", "text/csv"
CURL_DEFAULT = "application/x-www-form-urlencoded"  # what `curl -d` sends without -H: read as JSON
FIELD_ORDER = ",".join(FIELD_NAMES)


@dataclass(frozen=True)
class Flights:
    """Validated flights, typed."""

    records: list[Record]  # FIELDS order
    single: bool  # one JSON object rather than a list: answered with one result


@dataclass(frozen=True)
class ShortRequest:
    """A body of the short form, its JSON object not read yet."""

    document: Mapping[str, object]


def read_flights(body: bytes, content_type: str, max_batch: int) -> Flights | ShortRequest:
    """The flights of a JSON or CSV body, or a short-form object; 400 for the first thing wrong, 415 for another
    media type."""
    media_type = content_type.split(";")[0].strip().lower() or JSON
    if media_type == CURL_DEFAULT:
        media_type = JSON
    if media_type not in (JSON, CSV):
        detail = f"Content-Type {media_type!r} is not supported; send {JSON} or {CSV}"
        raise ApiError(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, detail)
    text = _text(body)
    if media_type == CSV:
        rows = _csv_rows(text)
        _check_count(len(rows), max_batch)
        return Flights([_row_record(row, index) for index, row in enumerate(rows)], single=False)
    document = _json_document(text)
    if isinstance(document, dict) and is_short_form(document):
        return ShortRequest(document)
    documents = document if isinstance(document, list) else [document]
    _check_count(len(documents), max_batch)
    records = [validate_record(record_values(item, index), index) for index, item in enumerate(documents)]
    return Flights(records, single=not isinstance(document, list))


def csv_line(record: Record) -> str:
    """A validated record as the canonical CSV line the model server reads back to the same values."""
    return ",".join(spec.text(value) for spec, value in zip(FIELDS, record, strict=True))


def _text(body: bytes) -> str:
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise InvalidInput(f"the body is not valid UTF-8 text (byte {error.start})") from None
    if not text.strip():
        raise InvalidInput("the body is empty; send a flight object, a list of them, or CSV rows")
    return text


def _check_count(count: int, max_batch: int) -> None:
    if not count:
        raise InvalidInput("the list of flights is empty")
    if count > max_batch:
        raise InvalidInput(f"{count} flights in one request; the limit is {max_batch}")


def _json_document(text: str) -> dict[str, object] | list[object]:
    try:
        document = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as error:
        where = f"line {error.lineno} column {error.colno}"
        raise InvalidInput(f"the body is not valid JSON: {error.msg} at {where}") from None
    except (ValueError, RecursionError):
        raise InvalidInput("the body is JSON this service cannot read (a number too long or too deep)") from None
    if not isinstance(document, dict | list):
        raise InvalidInput(f"the body must be a flight object or a list of them, not a JSON {json_type(document)}")
    return document


def _reject_constant(name: str) -> None:
    raise InvalidInput(f"the body is not valid JSON: {name} is not a JSON number")


def _csv_rows(text: str) -> list[list[str]]:
    """The rows that hold anything but blanks; none may be a header."""
    try:
        reader = csv.reader(io.StringIO(text, newline=""), strict=True)
        rows = [row for row in reader if any(cell.strip() for cell in row)]
    except csv.Error as error:
        raise InvalidInput(f"the body is not valid CSV: {error}") from None
    if rows and canonical_name(rows[0][0]) is not None:
        raise InvalidInput(f"send CSV rows without a header, fields in this order: {FIELD_ORDER}")
    return rows


def _row_record(row: list[str], index: int) -> Record:
    """A row of the required fields and any of the optional ones after them, in FIELDS order, validated."""
    check_width(len(row), index)
    return validate_record([*row, *[None] * (len(FIELD_NAMES) - len(row))], index)
