"""The handler fuzzed with generated events of the four shapes it takes: API Gateway payload 1.0 (REST API) and
2.0 (HTTP API), Lambda function URL, Application Load Balancer (with multi-value headers or without).

Every event gets a valid response in its source's shape and nothing raises. The endpoint is a stand-in that
answers the container's JSON to any call, so a 5xx is a handler bug; an event of no shape the function takes
(a JSON value that is no object, an object without a method) is a 400. The endpoint is called exactly when
the answer is 200, and only with lines the model server itself accepts: its own CSV codec and record
validation are the oracle. Where the generator knows the right status (a valid batch, a field known to
be bad, a body over the limit, another method ...) the answer must be that status.

CI runs 3,000 examples per property (in-process, pure Python: about 15 s each); the long form is
`DELAYCAST_FUZZ_EXAMPLES=100000 pytest tests/lambda_/test_fuzz.py`.
"""

from __future__ import annotations

import base64
import csv
import functools
import io
import json
import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, note, settings
from hypothesis import strategies as st

from delaycast.fields import FIELD_NAMES, FIELDS, REQUIRED_FIELDS
from delaycast.records import validate_record
from delaycast_api.handler import Handler
from delaycast_api.settings import Settings
from serve.codecs import CsvCodec
from tests.lambda_.conftest import ENDPOINT
from tests.lambda_.support import (
    FakeContext,
    assert_valid_load_balancer_response,
    assert_valid_proxy_response,
    endpoint_answer,
    function_url_event,
    http_event,
    load_balancer_event,
    rest_event,
)

FUZZ_EXAMPLES = int(os.environ.get("DELAYCAST_FUZZ_EXAMPLES", "3000"))
MAX_BATCH = 100  # the handler's default MAX_BATCH and body limit, given to it explicitly
MAX_BODY = 256 * 1024
FUZZ = settings(
    max_examples=FUZZ_EXAMPLES,
    deadline=None,
    database=None,  # no .hypothesis/ directory in the repository; a failure prints its reproduction
    # aws_env (autouse, function scope) only sets environment variables that every example may share.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
ANSWERED = {200, 204, 400, 405, 413, 415}  # every status a client mistake (or success) may get from a healthy endpoint
UPPER, DIGITS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ", "0123456789"
JSON_TYPES = ("application/json", "application/json; charset=utf-8", "Application/JSON", None)
CSV_TYPES = ("text/csv", "text/csv; charset=utf-8", "TEXT/CSV; header=absent")
OTHER_TYPES = ("application/xml", "text/plain", "multipart/form-data; boundary=x", "application/jsonlines", "csv")

# Values each field refuses, whatever else the flight holds (strings among them are refused in CSV too).
BAD_VALUES: dict[str, list[Any]] = {
    "carrier": ["U", "UAL", "U-", "U$", "U A", "ÜA", 12, 1.5, True, [], {}],
    "flight_number": [0, 10000, -1, 1.5, "1.5", "abc", "NaN", "inf", "1e400", 10**20, True, []],
    "origin": ["JF", "JFKX", "J3K", "123", "J K", 123, False, []],
    "dest": ["JF", "JFKX", "J3K", "123", "J K", 123, False, {}],
    "flight_date": ["2013-02-30", "2013-13-01", "13-11-05", "2013/11/05", "20131105", "2013-1-05", 20131105, True],
    "crs_dep_time": ["24:01", "25:00", "12:60", "5:5", "0515am", "060", 2401, 2460, -1, 12.5, True],
    "crs_arr_time": ["24:01", "25:00", "12:60", "5:5", "0515am", "060", 2401, 2460, -1, 12.5, True],
    "distance": [0, 0.5, 10001, -5, "x", "nan", "Infinity", True, [], {}],
    "origin_delay_rate_prev_day": [-0.01, 1.01, 2, "x", "nan", True, []],
    "origin_delay_rate_today": [-0.01, 1.01, "x", "nan", True, {}],
    "minutes_to_departure": [-1, 10081, "x", "inf", True, []],
}
ABSENT = (None, "", "  ")
# Hand-written bodies at the edges of JSON, with the status each must get.
EDGE_BODIES: list[tuple[bytes, int]] = [
    (b"", 400),
    (b" \r\n\t", 400),
    (b"null", 400),
    (b"[]", 400),
    (b"{}", 400),
    (b"[[]]", 400),
    (b'"UA"', 400),
    (b"NaN", 400),
    (b'{"distance": Infinity}', 400),
    (b'{"carrier": "UA", "flight_number": 1e400}', 400),
    (b'{"flight_number": ' + b"9" * 5000 + b"}", 400),
    (b"[" * 100_000 + b"]" * 100_000, 400),
    (b'{"carrier": "UA"', 400),
    (b'{"carrier": "UA"}}', 400),
    (b"\xef\xbb\xbf{}", 400),
    (b"\xff\xfe{\x00}\x00", 400),
    (b"\x80\x03]q\x00.", 400),  # a pickle
    (b"PK\x03\x04" + b"\x00" * 64, 400),  # a zip
]

Flight = tuple[dict[str, Any], bool | None]  # a record, and whether it is valid (None: the generator cannot tell)


@dataclass(frozen=True)
class Body:
    """Request body bytes, the media type they are written in, and the status they must get when POSTed."""

    data: bytes
    media_type: str  # "application/json" or "text/csv"
    expect: int | None


@dataclass(frozen=True)
class Request:
    """What the handler is given, and the status and response shape it must answer when the generator knows them."""

    event: Any
    context: FakeContext | None
    expect: int | None
    shape: str | None  # PROXY, LOAD_BALANCER or MULTI_VALUE


# --- values and flights ----------------------------------------------------------------------------------


def any_case(text: str) -> st.SearchStrategy[str]:
    """`text` with each letter in upper or lower case."""
    flips = st.lists(st.booleans(), min_size=len(text), max_size=len(text))
    return flips.map(lambda upper: "".join(c.upper() if u else c.lower() for c, u in zip(text, upper, strict=True)))


def padded(values: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """Strings with optional blanks around them."""
    return st.tuples(BLANKS, values, BLANKS).map("".join)


def clock_time(hours: int, minutes: int, spelling: int) -> Any:
    """A valid time in one of the accepted spellings: "HH:MM", "H:MM", HHMM as int, str, "0HMM" or float."""
    hhmm = hours * 100 + minutes
    spellings = (f"{hours:02d}:{minutes:02d}", f"{hours}:{minutes:02d}", hhmm, str(hhmm), f"{hhmm:04d}", float(hhmm))
    return spellings[spelling]


def numbers(low: int, high: int) -> st.SearchStrategy[Any]:
    """Numbers in [low, high] as JSON ints, floats or numeric strings."""
    floats = st.floats(low, high)
    return st.integers(low, high) | floats | floats.map(repr) | st.integers(low, high).map(str)


def cell(value: Any) -> str:
    """A generated valid value as its CSV cell: whole numbers as digits (a whole-number field refuses "1545.0")."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return "" if value is None else str(value)


BLANKS = st.sampled_from(["", "", " ", "\t"])
CLOCK_TIMES = st.builds(clock_time, st.integers(0, 23), st.integers(0, 59), st.integers(0, 5)) | st.sampled_from(
    ["24:00", 2400, "2400"]
)
VALID_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "carrier": padded(st.text(UPPER + UPPER.lower() + DIGITS, min_size=2, max_size=2)),
    "flight_number": st.integers(1, 9999) | st.integers(1, 9999).map(str) | st.integers(1, 9999).map(float),
    "origin": padded(st.text(UPPER + UPPER.lower(), min_size=3, max_size=3)),
    "dest": padded(st.text(UPPER + UPPER.lower(), min_size=3, max_size=3)),
    "flight_date": st.dates(date(1, 1, 1), date(9999, 12, 31)).map(date.isoformat),
    "crs_dep_time": CLOCK_TIMES,
    "crs_arr_time": CLOCK_TIMES,
    "distance": numbers(1, 10_000),
    "origin_delay_rate_prev_day": numbers(0, 1),
    "origin_delay_rate_today": numbers(0, 1),
    "minutes_to_departure": numbers(0, 10080),
}
OPTIONAL = {f.name: VALID_VALUES[f.name] | st.sampled_from(ABSENT) for f in FIELDS if not f.required}
VALID_FLIGHTS = st.fixed_dictionaries({name: VALID_VALUES[name] for name in REQUIRED_FIELDS}, optional=OPTIONAL)
JSON_SCALARS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text()
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12,
)


MUTATIONS = st.sampled_from(["none", "none", "drop", "blank", "unknown", "bad", "anything"])
FIELD_CHOICE = st.sampled_from(FIELD_NAMES)
ABSENT_VALUES = st.sampled_from(ABSENT)
UNKNOWN_KEYS = (st.text(max_size=12) | any_case("Carrier")).filter(lambda key: key not in FIELD_NAMES)
BAD = {name: st.sampled_from(values) for name, values in BAD_VALUES.items()}
BAD_CELLS = {name: st.sampled_from([v for v in values if isinstance(v, str)]) for name, values in BAD_VALUES.items()}


@st.composite
def flights(draw: st.DrawFn) -> Flight:
    """A valid flight, or one with one field mutated: dropped, blank, unknown, known to be bad, or anything."""
    record = draw(VALID_FLIGHTS)
    mutation, name = draw(MUTATIONS), draw(FIELD_CHOICE)
    required = name in REQUIRED_FIELDS
    if mutation == "drop":
        record.pop(name, None)
        return record, not required
    if mutation == "blank":
        return {**record, name: draw(ABSENT_VALUES)}, not required
    if mutation == "unknown":
        return {**record, draw(UNKNOWN_KEYS): draw(JSON_VALUES)}, False
    if mutation == "bad":
        return {**record, name: draw(BAD[name])}, False
    if mutation == "anything":
        return {**record, name: draw(JSON_VALUES)}, None
    return record, True


def batch_validity(batch: list[Flight]) -> bool | None:
    """Whether a list of flights is a valid request: every flight valid and 1 to MAX_BATCH of them."""
    if not 1 <= len(batch) <= MAX_BATCH or any(valid is False for _, valid in batch):
        return False
    return True if all(valid for _, valid in batch) else None


SHORT_BATCHES = st.lists(flights(), max_size=6)
LONG_SIZES = st.sampled_from([MAX_BATCH - 1, MAX_BATCH, MAX_BATCH + 1]) | st.integers(0, MAX_BATCH + 20)


@st.composite
def batches(draw: st.DrawFn) -> list[Flight]:
    """A short list of independent flights, or a long one (up to past MAX_BATCH) of copies with one changed."""
    if draw(st.booleans()):
        return draw(SHORT_BATCHES)
    size = draw(LONG_SIZES)
    batch: list[Flight] = [(draw(VALID_FLIGHTS), True)] * size
    if size and draw(st.booleans()):
        batch[draw(st.integers(0, size - 1))] = draw(flights())
    return batch


# --- bodies ----------------------------------------------------------------------------------------------


def expected(validity: bool | None) -> int | None:
    """The status for a request body of this validity."""
    return None if validity is None else 200 if validity else 400


INDENTS = st.none() | st.integers(0, 2)
BOMS = st.sampled_from([b"", b"", b"\xef\xbb\xbf"])


@st.composite
def json_bodies(draw: st.DrawFn) -> Body:
    """One flight object or a list of them, as JSON in some layout, sometimes after a byte-order mark."""
    if draw(st.booleans()):
        record, validity = draw(flights())
        document: Any = record
    else:
        batch = draw(batches())
        document, validity = [record for record, _ in batch], batch_validity(batch)
    text = json.dumps(document, indent=draw(INDENTS), ensure_ascii=draw(st.booleans()))
    return Body(draw(BOMS) + text.encode("utf-8", "surrogatepass"), "application/json", expected(validity))


CSV_MUTATIONS = st.sampled_from(["none", "none", "few", "many", "header", "bad", "anything", "quote"])
CSV_HEADERS = st.tuples(*(any_case(name) for name in FIELD_NAMES)).map(list)
LINE_ENDS = st.sampled_from(["\n", "\r\n"])
WIDTHS = st.integers(len(REQUIRED_FIELDS), len(FIELD_NAMES))


@st.composite
def csv_bodies(draw: st.DrawFn) -> Body:
    """Headerless CSV rows of valid flights, one row mutated: cells missing or extra, a header, a bad or odd
    cell, or a quote that never closes."""
    records = draw(st.lists(VALID_FLIGHTS, min_size=1, max_size=6))
    rows = [[cell(record.get(name)) for name in FIELD_NAMES] for record in records]
    rows = [row[: draw(WIDTHS)] for row in rows]
    mutation = draw(CSV_MUTATIONS)
    row = rows[draw(st.integers(0, len(rows) - 1))]
    column = draw(st.integers(0, len(REQUIRED_FIELDS) - 1))
    validity: bool | None = mutation == "none"
    if mutation == "few":
        del row[draw(st.integers(1, len(REQUIRED_FIELDS) - 1)) :]
    elif mutation == "many":
        row.extend(draw(st.lists(st.text(max_size=5), min_size=len(FIELD_NAMES) + 1 - len(row), max_size=12)))
    elif mutation == "header":
        rows.insert(0, draw(CSV_HEADERS))
    elif mutation == "bad":
        row[column] = draw(BAD_CELLS[FIELD_NAMES[column]])
    elif mutation == "anything":
        row[column], validity = draw(st.text()), None
    text = io.StringIO()
    csv.writer(text, lineterminator=draw(LINE_ENDS)).writerows(rows)
    data = text.getvalue().encode("utf-8", "surrogatepass")
    if mutation == "quote":
        data += b'UA,"1545\n'
    return Body(data, "text/csv", expected(validity))


@st.composite
def oversized_bodies(draw: st.DrawFn) -> Body:
    """A valid flight padded with blanks to just under, at or just over the body limit."""
    data = json.dumps(draw(VALID_FLIGHTS)).encode()
    size = MAX_BODY + draw(st.integers(-2, 2))
    return Body(data + b" " * (size - len(data)), "application/json", 200 if size <= MAX_BODY else 413)


BODIES: st.SearchStrategy[Body] = st.one_of(
    json_bodies(),
    csv_bodies(),
    oversized_bodies(),
    st.sampled_from(EDGE_BODIES).map(lambda edge: Body(edge[0], "application/json", edge[1])),
    JSON_VALUES.map(lambda value: Body(json.dumps(value).encode(), "application/json", None)),
    st.builds(Body, st.binary(max_size=512), st.sampled_from(["application/json", "text/csv"]), st.none()),
)


# --- events ----------------------------------------------------------------------------------------------

METHODS = st.sampled_from(["POST"] * 20 + ["OPTIONS", "OPTIONS", "GET", "PUT", "DELETE", "PATCH", "HEAD", "post"])
EXTRA_HEADERS = st.dictionaries(
    st.text("abcdefghijklmnopqrstuvwxyz-_0123456789", min_size=1, max_size=16).filter(lambda n: n != "content-type"),
    st.text(max_size=32),
    max_size=4,
)
CONTENT_TYPE_NAMES = any_case("Content-Type")
PROXY, LOAD_BALANCER, MULTI_VALUE = "proxy", "load balancer", "load balancer, multi-value headers"
FORMATS = st.sampled_from(
    [
        (rest_event, PROXY),
        (http_event, PROXY),
        (function_url_event, PROXY),
        (load_balancer_event, LOAD_BALANCER),
        (functools.partial(load_balancer_event, multi_value=True), MULTI_VALUE),
    ]
)
CONTEXTS = st.sampled_from([FakeContext(), FakeContext(), None])
UNSUPPORTED = st.sampled_from([False] * 9 + [True])  # a Content-Type other than JSON or CSV


@st.composite
def requests(draw: st.DrawFn) -> Request:
    """An event any of the four sources could send: any method, header names in any case, extra headers, any
    Content-Type (or none), the body base64-encoded or not (always when it is not UTF-8)."""
    body, method = draw(BODIES), draw(METHODS)
    if body.media_type == "text/csv":
        media_type: str | None = draw(st.sampled_from(CSV_TYPES))
    else:
        media_type = draw(st.sampled_from(JSON_TYPES))
    unsupported = draw(UNSUPPORTED)
    if unsupported:
        media_type = draw(st.sampled_from(OTHER_TYPES))
    headers = draw(EXTRA_HEADERS)
    if media_type is not None:
        headers[draw(CONTENT_TYPE_NAMES)] = media_type
    build, shape = draw(FORMATS)
    request_event = build(None, method=method, headers=headers)
    if body.data:
        try:
            text = None if draw(st.booleans()) else body.data.decode("utf-8")
        except UnicodeDecodeError:
            text = None
        encoded = base64.b64encode(body.data).decode() if text is None else text
        request_event["body"], request_event["isBase64Encoded"] = encoded, text is None
    if method.upper() == "OPTIONS":
        expect: int | None = 204
    elif method.upper() != "POST":
        expect = 405
    elif len(body.data) > MAX_BODY:
        expect = 413
    else:
        expect = 415 if unsupported else body.expect
    return Request(request_event, draw(CONTEXTS), expect, shape)


CORRUPTIONS = st.sampled_from(["remove", "replace", "descend"])
IMPOSSIBLE = st.sampled_from(["corrupt", "corrupt", "corrupt", "version", "headers", "base64", "not an object"])
ODD_HEADERS = st.dictionaries(st.text(max_size=8) | st.integers(), JSON_VALUES, max_size=3) | JSON_VALUES
NOT_OBJECTS = JSON_SCALARS | st.lists(JSON_VALUES, max_size=4)


def corrupt(value: Any, draw: st.DrawFn) -> Any:
    """`value` (a mapping, at any depth) with one key removed or given any JSON value."""
    if not isinstance(value, dict) or not value:
        return draw(JSON_VALUES)
    key = draw(st.sampled_from(sorted(value)))
    action = draw(CORRUPTIONS)
    if action == "remove":
        return {k: v for k, v in value.items() if k != key}
    return {**value, key: corrupt(value[key], draw) if action == "descend" else draw(JSON_VALUES)}


@st.composite
def impossible_requests(draw: st.DrawFn) -> Request:
    """Events no source sends: keys missing or of the wrong type, a version it does not have, odd headers, a
    body marked base64 that is not, or no object at all (a direct invocation can pass anything)."""
    request = draw(requests())
    kind = draw(IMPOSSIBLE)
    broken: Any = request.event
    if kind == "corrupt":
        for _ in range(draw(st.integers(1, 3))):
            broken = corrupt(broken, draw)
    elif kind == "version":
        broken = {**broken, "version": draw(st.sampled_from(["2.0", "1.0", "3.0", 2.0, None]))}
    elif kind == "headers":
        broken = {**broken, draw(st.sampled_from(["headers", "multiValueHeaders"])): draw(ODD_HEADERS)}
    elif kind == "base64":
        broken = {**broken, "isBase64Encoded": True, "body": draw(st.text())}
    else:  # not an event at all: only a direct invocation can send it, and it gets a 400 naming what is wrong
        return replace(request, event=draw(NOT_OBJECTS), expect=400, shape=PROXY)
    return replace(request, event=broken, expect=None, shape=None)


# --- the endpoint stand-in and the properties ------------------------------------------------------------


class EndpointStandIn:
    """The sagemaker-runtime client the handler is given: records each call, answers one prediction a line."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def invoke_endpoint(self, **params: Any) -> dict[str, Any]:
        """Answer what the container would, whatever was sent (the test judges the call afterwards)."""
        self.calls.append(params)
        lines = bytes(params.get("Body", b"")).count(b"\n")
        return endpoint_answer(*[0.5] * lines)


def assert_model_server_accepts(call: dict[str, Any]) -> int:
    """Check one InvokeEndpoint call as the model server would read it; return its number of records."""
    assert call["EndpointName"] == ENDPOINT
    assert call["ContentType"] == "text/csv"
    assert call["Accept"] == "application/json"
    body = call["Body"]
    assert isinstance(body, bytes)
    assert body.endswith(b"\n")
    table = CsvCodec().decode(body, "")  # raises InvalidInput when the container would answer 400
    assert len(table) == body.count(b"\n")
    for index in range(len(table)):
        validate_record(table.record(index), index)  # raises RecordError likewise
    return len(table)


@pytest.fixture(scope="module")
def quiet_handler_log() -> Iterator[None]:
    """Only the handler's warnings and errors are logged: one INFO line per example adds up."""
    logger = logging.getLogger("delaycast.lambda")
    level = logger.level
    logger.setLevel(logging.WARNING)
    yield
    logger.setLevel(level)


@pytest.fixture(scope="module")
def answer(quiet_handler_log: None) -> Callable[[Request], None]:
    """Send one generated request to a fresh Handler and check every property of the answer."""

    def check(request: Request) -> None:
        endpoint = EndpointStandIn()
        handler = Handler(Settings(endpoint_name=ENDPOINT, max_batch=MAX_BATCH, max_body_bytes=MAX_BODY), endpoint)
        response = handler.handle(request.event, request.context)
        document = assert_valid_response(response, request.shape)
        status = response["statusCode"]
        event(f"status {status}")
        note(f"response: {response}")
        assert status in ANSWERED or status == request.expect, "the endpoint is healthy: a 5xx is a handler bug"
        if request.expect is not None:
            assert status == request.expect
        if status != 200:
            assert endpoint.calls == [], "the endpoint was called, yet the answer is not 200"
            return
        assert len(endpoint.calls) == 1
        records = assert_model_server_accepts(endpoint.calls[0])
        assert (len(document) if isinstance(document, list) else 1) == records

    return check


def assert_valid_response(response: Any, shape: str | None) -> Any:
    """Check the response contract of `shape` (when None: of the shape the response has); its parsed body."""
    if shape is None and isinstance(response, dict) and "statusDescription" in response:
        shape = MULTI_VALUE if "multiValueHeaders" in response else LOAD_BALANCER
    if shape in (LOAD_BALANCER, MULTI_VALUE):
        return assert_valid_load_balancer_response(response, multi_value=shape == MULTI_VALUE)
    return assert_valid_proxy_response(response)


@FUZZ
@given(request=requests())
def test_every_http_request_gets_a_response_in_its_shape(answer: Callable[[Request], None], request: Request) -> None:
    answer(request)


@FUZZ
@given(request=impossible_requests())
def test_events_no_source_sends_still_get_one(answer: Callable[[Request], None], request: Request) -> None:
    answer(request)
