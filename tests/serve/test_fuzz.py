"""Fuzzing the model server: nothing a client sends gets a 5xx, a traceback or a non-JSON error.

- schemathesis generates requests from the shipped OpenAPI document (serve/openapi.json, served at
  GET /openapi.json) and checks every answer against it, in process over WSGI;
- hypothesis generates valid, near-valid and arbitrary requests through the Flask app, then a bounded
  run of them against the real gunicorn server, whose workers must all survive;
- hand-written edge cases pin the exact status of what production sends.

DELAYCAST_FUZZ_EXAMPLES sets the number of hypothesis requests in process (default 10,000, the CI size);
schemathesis gets 1/25 of it per operation (plus its deterministic coverage cases), gunicorn 3/10.
The long form: DELAYCAST_FUZZ_EXAMPLES=200000 pytest tests/serve/test_fuzz.py
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import http.client
import io
import json
import os
import pickle
import random
import socket
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast

import pytest
import schemathesis
from flask import Flask, Response
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import core as hypothesis_core
from hypothesis import strategies as st
from hypothesis.vendor import pretty
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
)
from werkzeug.test import TestResponse

from delaycast.artifact import LoadedModel
from delaycast.fields import BTS_COLUMNS, FIELD_NAMES, KAGGLE_COLUMNS
from deploy.local.chain import free_port, process_server
from serve.app import OPENAPI_DOCUMENT, create_app
from serve.runtime import COMPILED_MAX_RECORDS, ModelRuntime
from serve.server import limit_native_threads
from serve.settings import ServerSettings
from tests.serve.test_app import rows_of_size

FUZZ_REQUESTS = int(os.environ.get("DELAYCAST_FUZZ_EXAMPLES", "10000"))
VALID_REQUESTS = FUZZ_REQUESTS // 5
CSV_REQUESTS = FUZZ_REQUESTS // 4
JSON_REQUESTS = FUZZ_REQUESTS // 4
ARBITRARY_REQUESTS = FUZZ_REQUESTS - VALID_REQUESTS - CSV_REQUESTS - JSON_REQUESTS
SCHEMATHESIS_EXAMPLES = max(100, FUZZ_REQUESTS // 25)
SERVER_REQUESTS = max(1000, FUZZ_REQUESTS * 3 // 10)
LIMIT = ServerSettings().max_payload_bytes  # the real limit: 6 MiB
FUZZ_SETTINGS = settings(deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])

Scalar = str | int | float | None
ROW = "UA,1545,EWR,IAH,2013-11-05,0515,0819,1400"
HEADER = "carrier,flight_number,origin,dest,flight_date,crs_dep_time"
RECORD: dict[str, Scalar] = {
    "carrier": "UA",
    "flight_number": 1545,
    "origin": "EWR",
    "dest": "IAH",
    "flight_date": "2013-11-05",
    "crs_dep_time": 515,
}
PATHS = ("/ping", "/invocations", "/execution-parameters", "/openapi.json")
ACCEPTS = {
    "application/json": "application/json",
    "text/csv": "text/csv",
    "application/jsonlines": "application/jsonlines",
    "application/x-ndjson": "application/jsonlines",
    "*/*": "application/json",
    "text/*": "text/csv",
    "application/xml;q=1, text/csv;q=0.5": "text/csv",
}
CONTENT_TYPES = {
    "csv": ("text/csv", "TEXT/CSV", "application/csv", "text/csv; charset=utf-8", "text/csv;header=present"),
    "json": ("application/json", "Application/JSON; charset=UTF-8"),
    "jsonlines": ("application/jsonlines", "application/x-jsonlines", "application/jsonl", "application/x-ndjson"),
}
ALIASES = {
    field: [name for name, f in {**KAGGLE_COLUMNS, **BTS_COLUMNS}.items() if f == field] for field in FIELD_NAMES
}
ODD_STRINGS = (
    *("", " ", "NaN", "nan", "inf", "-inf", "Infinity", "1e999", "-1e999", "-0", "0x10", "1_545"),
    *("\uff11\uff15\uff14\uff15", "2013-02-30", "2013-11-05T10:00:00+05:00", "2013-W45-2", "20131105", "2013-11"),
    *("0001-01-01", "9999-12-31", "2460", "2400", "-5", "12.5", "7:15", "9" * 400, "ua", "UAL", "E1", "🛫"),
    *("\x00", "\ufeff", "\u2028", "\x85", "\x1c", "\r", "\n", '"', ",", "null", "true", "[]", "{}"),
)
LATIN1_TEXT = st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"), max_size=40)


@dataclass(frozen=True)
class FuzzRequest:
    """One HTTP request, sendable both through the Flask test client and over a socket."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes = b""


@dataclass
class Tally:
    """Every request the fuzzed app answered, by status."""

    statuses: Counter[int] = field(default_factory=Counter)
    server_requests: int = 0

    def count(self, response: Response) -> Response:
        """An after_request hook: count the answer, leave it as it is."""
        self.statuses[response.status_code] += 1
        return response

    def total(self) -> int:
        """Requests answered so far."""
        return sum(self.statuses.values())


@pytest.fixture(scope="module")
def tally(request: pytest.FixtureRequest) -> Iterator[Tally]:
    """The module's request count, written to the terminal at the end."""
    counted = Tally()
    yield counted
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is not None and capture is not None and counted.total():
        statuses = ", ".join(f"{status}: {n}" for status, n in sorted(counted.statuses.items()))
        with capture.global_and_fixture_disabled():
            reporter.write_line(
                f"\nfuzz: {counted.total()} requests in process ({statuses}), {counted.server_requests} to gunicorn"
            )
    assert not [status for status in counted.statuses if status >= 500]


@pytest.fixture(scope="module")
def fuzz_app(loaded_model: LoadedModel, tally: Tally) -> Flask:
    """The app as `python -m serve` builds it (compiled archive, the real payload limit), counted."""
    limit_native_threads()
    app = create_app(ModelRuntime.of_model(loaded_model), ServerSettings(workers=2))
    app.after_request(tally.count)
    return app


@pytest.fixture(scope="module")
def fuzz_client(fuzz_app: Flask) -> FlaskClient:
    """A test client of the fuzzed app."""
    return fuzz_app.test_client()


def send(client: FlaskClient, request: FuzzRequest) -> TestResponse:
    """Send a generated request through the Flask test client."""
    return client.open(request.path, method=request.method, headers=request.headers, data=request.body)


def assert_well_formed(status: int, headers: dict[str, str], body: bytes, method: str = "POST") -> None:
    """No 5xx; a 4xx is exactly {"error", "detail"} in JSON, without a traceback; a 405 says what is allowed."""
    text = body.decode("utf-8", "replace")
    assert status < 500, f"{status}: {text[:500]}"
    assert "Traceback" not in text
    if status < 400 or method == "HEAD":
        return
    assert headers.get("content-type", "").startswith("application/json"), f"{status}: {text[:200]}"
    error = json.loads(body)
    assert set(error) == {"error", "detail"}, error
    assert isinstance(error["error"], str)
    assert isinstance(error["detail"], str)
    if status == 405:
        assert headers.get("allow")


def check(response: TestResponse, method: str = "POST") -> None:
    """assert_well_formed on a test-client response."""
    headers = {name.lower(): value for name, value in response.headers.items()}
    assert_well_formed(response.status_code, headers, response.get_data(), method)


# --- strategies ------------------------------------------------------------------------------------------------


CARRIERS = ("UA", "AA", "B6", "DL", "WN", "9E", "EV", "MQ", "US", "Z9")
AIRPORT_CODES = ("EWR", "JFK", "LGA", "IAH", "ORD", "ATL", "LAX", "SFO", "BQN", "QQQ")


def hhmm() -> st.SearchStrategy[int]:
    """A valid scheduled time HHMM as a number."""
    return st.builds(lambda hour, minute: hour * 100 + minute, st.integers(0, 23), st.integers(0, 59)) | st.just(2400)


def code(choices: tuple[str, ...]) -> st.SearchStrategy[str]:
    """A valid code as clients write it: any case, maybe padded."""
    variants = [variant for c in choices for variant in (c, c.lower(), f" {c} ")]
    return st.sampled_from(variants)


VALID_VALUES: dict[str, st.SearchStrategy[Scalar]] = {
    "carrier": code(CARRIERS),
    "flight_number": st.integers(1, 9999) | st.integers(1, 9999).map(str),
    "origin": code(AIRPORT_CODES),
    "dest": code(AIRPORT_CODES),
    "flight_date": st.dates().map(dt.date.isoformat),
    "crs_dep_time": hhmm() | hhmm().map("{:04d}".format),
    "crs_arr_time": hhmm() | hhmm().map("{:04d}".format) | st.sampled_from(("", None)),
    "distance": st.floats(1, 10000) | st.integers(1, 10000) | st.sampled_from(("", None)),
    "origin_delay_rate_prev_day": st.floats(0, 1) | st.sampled_from(("", None)),
    "origin_delay_rate_today": st.floats(0, 1) | st.sampled_from(("", None)),
    "minutes_to_departure": st.floats(0, 10080) | st.integers(0, 10080) | st.sampled_from(("", None)),
}
JUNK_SCALARS: st.SearchStrategy[Scalar] = st.one_of(
    st.sampled_from(ODD_STRINGS),
    st.text(max_size=12),
    st.integers(),
    st.integers(min_value=10**300, max_value=10**400),
    st.floats(),
    st.none(),
)


def json_containers(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Arrays and objects of `inner`."""
    return st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)


JUNK_JSON: st.SearchStrategy[Any] = st.recursive(JUNK_SCALARS | st.booleans(), json_containers, max_leaves=4)
DROP = object()  # a mutation that removes the field


def record_pool(size: int, seed: int = 2013) -> list[dict[str, Scalar]]:
    """Valid 2013 flights made up once; hypothesis picks and mutates them (drawing every field costs 5x more)."""
    rng = random.Random(seed)

    def time_of_day() -> str:
        return f"{rng.randrange(24):02d}{rng.randrange(60):02d}"

    pool: list[dict[str, Scalar]] = []
    for _ in range(size):
        record: dict[str, Scalar] = {
            "carrier": rng.choice(CARRIERS),
            "flight_number": rng.randint(1, 9999),
            "origin": rng.choice(AIRPORT_CODES),
            "dest": rng.choice(AIRPORT_CODES),
            "flight_date": (dt.date(2013, 1, 1) + dt.timedelta(days=rng.randrange(365))).isoformat(),
            "crs_dep_time": time_of_day(),
        }
        optional: dict[str, Scalar] = {
            "crs_arr_time": time_of_day(),
            "distance": rng.randint(80, 4983),
            "origin_delay_rate_prev_day": round(rng.random(), 3),
            "origin_delay_rate_today": round(rng.random(), 3),
            "minutes_to_departure": rng.randint(0, 1800),
        }
        record.update({name: value for name, value in optional.items() if rng.random() < 0.6})
        pool.append(record)
    return pool


POOL = st.sampled_from(record_pool(500))
VALID_MUTATIONS = st.one_of(*(st.tuples(st.just(name), VALID_VALUES[name]) for name in FIELD_NAMES))


def mutated_records(junk: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    """Records from the pool with a few fields changed: to other valid values, to junk, or dropped."""
    mutation = VALID_MUTATIONS | st.tuples(st.sampled_from(FIELD_NAMES), junk | st.just(DROP))
    extra = st.sampled_from(({},) * 6 + ({"note": "late, again"}, {"OP_CARRIER": "AA"}, {"gate": None}))
    return st.builds(apply_mutations, POOL, st.lists(mutation, max_size=3), extra)


def apply_mutations(record: dict[str, Any], changes: list[tuple[str, Any]], extra: dict[str, Any]) -> dict[str, Any]:
    """The record with `changes` applied (DROP removes the field) and `extra` keys added."""
    changed = dict(record)
    for name, value in changes:
        if value is DROP:
            changed.pop(name, None)
        else:
            changed[name] = value
    return {**changed, **extra}


VALID_RECORDS = st.builds(apply_mutations, POOL, st.lists(VALID_MUTATIONS, max_size=4), st.just({}))
NEAR_VALID_CSV_RECORDS = mutated_records(JUNK_SCALARS)
NEAR_VALID_JSON_RECORDS = mutated_records(JUNK_JSON)


def spellings(name: str) -> list[str]:
    """The ways a header can name a column: ours, Kaggle's or BTS's, in any case, padded."""
    names = [name, *ALIASES.get(name, [])]
    return [*names, *(n.upper() for n in names), *(f" {n} " for n in names)]


COLUMN_NAMES = {name: st.sampled_from(spellings(name)) for name in (*FIELD_NAMES, "note", "OP_CARRIER", "gate")}


def csv_text(draw: st.DrawFn, rows: list[list[Any]]) -> str:
    """Rows as CSV text, written as a CSV library or a naive join would."""
    if draw(st.integers(0, 3)) == 0:
        ending = draw(st.sampled_from(("\n", "\r\n")))
        return "".join(",".join("" if v is None else str(v) for v in row) + ending for row in rows)
    buffer = io.StringIO()
    quoting: Literal[0, 1, 2] = draw(st.sampled_from((csv.QUOTE_MINIMAL, csv.QUOTE_ALL, csv.QUOTE_NONNUMERIC)))
    writer = csv.writer(buffer, quoting=quoting, lineterminator=draw(st.sampled_from(("\n", "\r\n", "\r"))))
    writer.writerows(rows)
    return buffer.getvalue()


def csv_rows(draw: st.DrawFn, records: list[dict[str, Any]], header: bool) -> list[list[Any]]:
    """With a header: the fields sent, in any order; without: the manifest's order, cut to a width."""
    if header:
        names = draw(st.permutations(sorted({name for record in records for name in record})))
        head = [draw(COLUMN_NAMES[name]) for name in names]
        return [head, *([record.get(name) for name in names] for record in records)]
    width = draw(st.integers(6, 9))
    return [[record.get(name) for name in FIELD_NAMES[:width]] for record in records]


def encoded(draw: st.DrawFn, text: str, content_type: str) -> tuple[bytes, str]:
    """The body bytes and Content-Type: UTF-8 (maybe with a BOM), or another charset, declared or not."""
    kind = draw(st.sampled_from(("utf-8",) * 5 + ("bom", "latin-1", "utf-16", "undeclared latin-1")))
    if kind == "bom":
        return "\ufeff".encode() + text.encode(), content_type
    if kind == "utf-8":
        return text.encode(), content_type
    body = text.encode(kind.removeprefix("undeclared "), "replace")
    return body, content_type if kind.startswith("undeclared") else f"{content_type.split(';')[0]}; charset={kind}"


def mutated(draw: st.DrawFn, body: bytes) -> bytes:
    """Sometimes cut short or with bytes spliced in."""
    kind = draw(st.sampled_from(("as is",) * 6 + ("cut", "splice")))
    if kind == "as is" or not body:
        return body
    at = draw(st.integers(0, len(body)))
    return body[:at] if kind == "cut" else body[:at] + draw(st.binary(min_size=1, max_size=8)) + body[at:]


@st.composite
def valid_requests(draw: st.DrawFn) -> tuple[FuzzRequest, int]:
    """Valid records in any request format and any supported Accept; and how many records it holds."""
    records = draw(st.lists(VALID_RECORDS, min_size=1, max_size=5))
    records *= draw(st.sampled_from((1,) * 19 + (COMPILED_MAX_RECORDS + 1,)))  # sometimes the batch path
    kind = draw(st.sampled_from(("csv", "csv header", "json", "json list", "json instances", "json rows", "jsonl")))
    if kind.startswith("csv"):
        body, content_type = csv_text(draw, csv_rows(draw, records, kind == "csv header")).encode(), "text/csv"
    elif kind == "jsonl":
        body, content_type = "".join(json.dumps(r) + "\n" for r in records).encode(), "application/jsonlines"
    else:
        rows = [[record.get(name) for name in FIELD_NAMES] for record in records]
        document = {
            "json": records[0] if len(records) == 1 else records,
            "json list": records,
            "json instances": {"instances": records},
            "json rows": {"instances": rows},
        }[kind]
        body, content_type = json.dumps(document).encode(), "application/json"
    headers = {"Content-Type": content_type}
    accept = draw(st.sampled_from((None, *ACCEPTS)))
    if accept is not None:
        headers["Accept"] = accept
    return FuzzRequest("POST", "/invocations", headers, body), len(records)


@st.composite
def csv_requests(draw: st.DrawFn) -> FuzzRequest:
    """Near-valid CSV: junk values, missing or unknown columns, ragged rows, odd encodings, cut bodies."""
    records = draw(st.lists(NEAR_VALID_CSV_RECORDS, max_size=5))
    records *= draw(st.sampled_from((1,) * 29 + (1500,)))  # sometimes past 64 KiB: pandas' reader
    rows = csv_rows(draw, records, draw(st.booleans()))
    if rows and draw(st.integers(0, 4)) == 0:
        ragged = draw(st.integers(0, len(rows) - 1))
        rows[ragged] = rows[ragged][: draw(st.integers(0, 12))] + draw(st.lists(JUNK_SCALARS, max_size=3))
    content_type = draw(st.sampled_from(CONTENT_TYPES["csv"]))
    body, content_type = encoded(draw, csv_text(draw, rows), content_type)
    return FuzzRequest("POST", "/invocations", {"Content-Type": content_type}, mutated(draw, body))


@st.composite
def json_requests(draw: st.DrawFn) -> FuzzRequest:
    """Near-valid JSON and JSON Lines: junk values of any JSON type, every document shape, cut bodies."""
    records = draw(st.lists(NEAR_VALID_JSON_RECORDS, max_size=4))
    shape = draw(st.sampled_from(("object", "list", "instances", "rows", "anything", "jsonl")))
    ascii_only = draw(st.booleans())
    if shape == "jsonl":
        ending = draw(st.sampled_from(("\n", "\r\n")))
        text = "".join(json.dumps(r, ensure_ascii=ascii_only) + ending for r in records)
        content_type = draw(st.sampled_from(CONTENT_TYPES["jsonlines"]))
    else:
        document: Any = {
            "object": records[0] if records else {},
            "list": records,
            "instances": {"instances": records},
            "rows": [[r.get(name) for name in FIELD_NAMES[: draw(st.integers(5, 10))]] for r in records],
            "anything": draw(JUNK_JSON),
        }[shape]
        text = json.dumps(document, ensure_ascii=ascii_only)
        content_type = draw(st.sampled_from(CONTENT_TYPES["json"]))
    body, content_type = encoded(draw, text, content_type)
    return FuzzRequest("POST", "/invocations", {"Content-Type": content_type}, mutated(draw, body))


@st.composite
def arbitrary_requests(draw: st.DrawFn) -> FuzzRequest:
    """Any method, path, headers and bytes (all sendable over HTTP/1.1)."""
    method = draw(st.sampled_from(("GET", "POST", "POST", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD")))
    known = st.sampled_from(PATHS)
    path = draw(known | known | known | st.text("abcdefghijklmnopqrstuvwxyz0123456789-._~%/", max_size=16))
    headers: dict[str, str] = {}
    all_types = [t for types in CONTENT_TYPES.values() for t in types]
    optional = {
        "Content-Type": st.sampled_from(all_types) | LATIN1_TEXT,
        "Accept": st.sampled_from(tuple(ACCEPTS)) | LATIN1_TEXT,
        "X-Amzn-SageMaker-Custom-Attributes": LATIN1_TEXT,
        "X-Amzn-SageMaker-Inference-Id": LATIN1_TEXT,
    }
    for name, values in optional.items():
        if draw(st.booleans()):
            headers[name] = draw(values)
    body = draw(st.binary(max_size=300) | st.text(max_size=100).map(str.encode))
    return FuzzRequest(method, "/" + path.lstrip("/"), headers, body)


# --- schemathesis: the OpenAPI document ------------------------------------------------------------------------


@schemathesis.serializer("application/jsonlines")
def _jsonlines(context: schemathesis.SerializationContext, value: object) -> bytes:
    """JSON Lines bodies: the document describes them as the array of the lines' values."""
    values = value if isinstance(value, list) else [value]
    return "".join(json.dumps(v) + "\n" for v in values).encode()


OPENAPI = schemathesis.openapi.from_path(OPENAPI_DOCUMENT)
# schemathesis' pytest plugin swaps hypothesis' printer for a no-op (it saves time on huge schemas), which
# prints every failing example of every hypothesis test in the session as `x=,`: put hypothesis' own back.
hypothesis_core.RepresentationPrinter = pretty.RepresentationPrinter  # type: ignore[attr-defined]
CaseTest = Callable[[schemathesis.Case[Any], Flask], None]
parametrize_operations = cast(Callable[[CaseTest], CaseTest], OPENAPI.parametrize())


def test_the_document_is_served_as_shipped(fuzz_app: Flask) -> None:
    loaded = schemathesis.openapi.from_wsgi("/openapi.json", fuzz_app)
    assert loaded.raw_schema == json.loads(OPENAPI_DOCUMENT.read_text())
    assert {result.ok().label for result in loaded.get_all_operations() if isinstance(result, Ok)} >= {
        "GET /ping",
        "POST /invocations",
        "GET /execution-parameters",
    }


@settings(FUZZ_SETTINGS, max_examples=SCHEMATHESIS_EXAMPLES)
@parametrize_operations
def test_every_answer_conforms_to_the_openapi_document(case: schemathesis.Case[Any], fuzz_app: Flask) -> None:
    response = case.call(app=fuzz_app)
    case.validate_response(
        response,
        checks=[
            not_a_server_error,
            status_code_conformance,
            content_type_conformance,
            response_schema_conformance,
            response_headers_conformance,
            unsupported_method,
        ],
    )
    assert_well_formed(response.status_code, {k: ", ".join(v) for k, v in response.headers.items()}, response.content)


# --- hypothesis through the app ----------------------------------------------------------------------------------


def run_budget(tally: Tally, budget: int, fuzz: Callable[[], None]) -> None:
    """Run a hypothesis test and check that it sent at least its share of the requests."""
    before = tally.total()
    fuzz()
    assert tally.total() - before >= budget


def test_valid_records_are_scored_in_every_format(fuzz_client: FlaskClient, tally: Tally) -> None:
    @settings(FUZZ_SETTINGS, max_examples=VALID_REQUESTS)
    @given(valid_requests())
    def fuzz(generated: tuple[FuzzRequest, int]) -> None:
        request, records = generated
        response = send(fuzz_client, request)
        check(response)
        assert response.status_code == 200, response.get_data(as_text=True)[:500]
        expected = ACCEPTS.get(request.headers.get("Accept", ""), "application/json")
        assert response.mimetype == expected
        assert response.headers["X-Delaycast-Model-Version"]
        text = response.get_data(as_text=True)
        if expected == "application/json":
            probabilities = [p["probability"] for p in json.loads(text)["predictions"]]
        elif expected == "text/csv":
            probabilities = [float(line.split(",")[1]) for line in text.splitlines()]
        else:
            probabilities = [json.loads(line)["probability"] for line in text.splitlines()]
        assert len(probabilities) == records
        assert all(0 <= p <= 1 for p in probabilities)

    run_budget(tally, VALID_REQUESTS, fuzz)


def test_near_valid_csv_is_answered_or_refused_cleanly(fuzz_client: FlaskClient, tally: Tally) -> None:
    @settings(FUZZ_SETTINGS, max_examples=CSV_REQUESTS)
    @given(csv_requests())
    def fuzz(request: FuzzRequest) -> None:
        check(send(fuzz_client, request))

    run_budget(tally, CSV_REQUESTS, fuzz)


def test_near_valid_json_is_answered_or_refused_cleanly(fuzz_client: FlaskClient, tally: Tally) -> None:
    @settings(FUZZ_SETTINGS, max_examples=JSON_REQUESTS)
    @given(json_requests())
    def fuzz(request: FuzzRequest) -> None:
        check(send(fuzz_client, request))

    run_budget(tally, JSON_REQUESTS, fuzz)


def test_arbitrary_requests_are_answered_or_refused_cleanly(fuzz_client: FlaskClient, tally: Tally) -> None:
    @settings(FUZZ_SETTINGS, max_examples=ARBITRARY_REQUESTS)
    @given(arbitrary_requests())
    def fuzz(request: FuzzRequest) -> None:
        check(send(fuzz_client, request), request.method)

    run_budget(tally, ARBITRARY_REQUESTS, fuzz)


def test_the_budget_is_at_least_10000_requests() -> None:
    assert VALID_REQUESTS + CSV_REQUESTS + JSON_REQUESTS + ARBITRARY_REQUESTS == FUZZ_REQUESTS
    if "DELAYCAST_FUZZ_EXAMPLES" not in os.environ:
        assert FUZZ_REQUESTS >= 10_000


# --- the real server: gunicorn, forked workers ------------------------------------------------------------------


@dataclass(frozen=True)
class Gunicorn:
    """`python -m serve` on 127.0.0.1, with the processes it had once all its workers were up."""

    port: int
    master: int
    workers: frozenset[int]

    def processes(self) -> tuple[int, frozenset[int]]:
        """The master started on this port (a child of this test process) and its current workers."""
        for entry in Path("/proc").iterdir():
            try:
                stat = (entry / "stat").read_text()
                command = (entry / "cmdline").read_bytes().split(b"\0")
            except (OSError, NotADirectoryError):
                continue
            parent = int(stat.rsplit(")", 1)[1].split()[1])
            if parent == os.getpid() and b"serve" in command and str(self.port).encode() in command:
                children = (entry / "task" / entry.name / "children").read_text().split()
                return int(entry.name), frozenset(int(child) for child in children)
        raise AssertionError(f"no server process on port {self.port}")

    def send(self, request: FuzzRequest) -> tuple[int, dict[str, str], bytes]:
        """One request on its own connection: status, headers (lower-case names), body."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            connection.request(request.method, request.path, body=request.body, headers=request.headers)
            response = connection.getresponse()
            return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
        finally:
            connection.close()

    def send_raw(self, data: bytes, close_write: bool = False) -> tuple[int, dict[str, str], bytes]:
        """Bytes that http.client would not send (malformed HTTP), and the answer parsed."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=60) as sock:
            sock.sendall(data)
            if close_write:
                sock.shutdown(socket.SHUT_WR)
            response = http.client.HTTPResponse(sock)
            response.begin()
            return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()


@pytest.fixture(scope="module")
def gunicorn(model_dir: Path) -> Iterator[Gunicorn]:
    """The real server with two workers; fails the test that used it last if a worker died or was replaced."""
    port = free_port()
    with process_server(model_dir, port, workers=2):
        server = Gunicorn(port, 0, frozenset())
        for _ in range(200):
            master, workers = server.processes()
            if len(workers) == 2:
                break
            time.sleep(0.05)
        server = Gunicorn(port, master, workers)
        yield server
        assert server.processes() == (master, workers), "a worker crashed or was replaced"


SERVER_REQUESTS_STRATEGY = st.one_of(
    valid_requests().map(lambda generated: generated[0]), csv_requests(), json_requests(), arbitrary_requests()
)


def test_gunicorn_answers_generated_requests_without_losing_a_worker(gunicorn: Gunicorn, tally: Tally) -> None:
    @settings(FUZZ_SETTINGS, max_examples=SERVER_REQUESTS)
    @given(SERVER_REQUESTS_STRATEGY)
    def fuzz(request: FuzzRequest) -> None:
        status, headers, body = gunicorn.send(request)
        tally.server_requests += 1
        assert_well_formed(status, headers, body, request.method)

    fuzz()
    assert tally.server_requests >= SERVER_REQUESTS
    assert gunicorn.processes() == (gunicorn.master, gunicorn.workers)


PROTOCOL_CASES = {
    "garbage request line": (b"GARBAGE\r\n\r\n", False, 400),
    "request line over 4094 bytes": (b"GET /" + b"a" * 5000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", False, 414),
    "header over 8190 bytes": (b"GET /ping HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n", False, 431),
    "101 headers": (b"GET /ping HTTP/1.1\r\n" + b"".join(b"X-%d: 1\r\n" % i for i in range(101)) + b"\r\n", False, 431),
    "Content-Length not a number": (
        b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: text/csv\r\nContent-Length: abc\r\n\r\n",
        False,
        400,
    ),
    "malformed chunked body": (
        b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: text/csv\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5\r\nUA,15\r\nzz\r\n",
        True,
        400,
    ),
    "body cut short": (
        b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: text/csv\r\nContent-Length: 100\r\n\r\nUA,1545",
        True,
        400,
    ),
    "Content-Length over the limit, answered before the body": (
        b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: text/csv\r\nContent-Length: %d\r\n\r\n" % (LIMIT + 1),
        False,
        413,
    ),
    "chunked body": (
        b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: text/csv\r\nTransfer-Encoding: chunked\r\n\r\n"
        + b"%x\r\n%s\r\n0\r\n\r\n" % (len(ROW), ROW.encode()),
        False,
        200,
    ),
    "chunked body of exactly the limit": (
        b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: text/csv\r\nTransfer-Encoding: chunked\r\n\r\n"
        + b"%x\r\n" % LIMIT
        + b"\n" * LIMIT
        + b"\r\n0\r\n\r\n",
        False,
        400,
    ),
    "chunked body over the limit": (
        b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: text/csv\r\nTransfer-Encoding: chunked\r\n\r\n"
        + b"%x\r\n" % (LIMIT + 1)
        + b"\n" * (LIMIT + 1)
        + b"\r\n0\r\n\r\n",
        False,
        413,
    ),
}


@pytest.mark.parametrize("name", PROTOCOL_CASES)
def test_gunicorn_answers_malformed_http_in_json(gunicorn: Gunicorn, name: str) -> None:
    data, close_write, expected = PROTOCOL_CASES[name]
    status, headers, body = gunicorn.send_raw(data, close_write)
    assert status == expected, body[:300]
    assert_well_formed(status, headers, body)


# --- hand-written edge cases -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Edge:
    """A request production may send, the exact status it gets and a piece of the error detail."""

    body: bytes
    content_type: str | None
    status: int
    detail: str = ""
    headers: tuple[tuple[str, str], ...] = ()
    method: str = "POST"
    path: str = "/invocations"
    on_gunicorn: bool = False  # heavy or odd enough to also send to the real server

    def request(self) -> FuzzRequest:
        """As a FuzzRequest."""
        headers = dict(self.headers)
        if self.content_type is not None:
            headers["Content-Type"] = self.content_type
        return FuzzRequest(self.method, self.path, headers, self.body)


def jsonb(document: object) -> bytes:
    """A JSON body; NaN and Infinity as Python writes them."""
    return json.dumps(document).encode()


ROW6 = ",".join(ROW.split(",")[:6])
LATIN1_ROWS = f"{HEADER},remarque\n{ROW6},été à Orly\n".encode("latin-1")
BIG_RECORD = (
    '{"carrier":"UA","flight_number":%s,"origin":"EWR","dest":"IAH","flight_date":"2013-11-05","crs_dep_time":515}'
)
BULK_ROWS = (ROW + "\n") * 2000  # past 64 KiB: pandas' reader
AT_LIMIT = rows_of_size(LIMIT)
EDGES: dict[str, Edge] = {
    "empty CSV": Edge(b"", "text/csv", 400, "no CSV rows", on_gunicorn=True),
    "empty JSON": Edge(b"", "application/json", 400, "the body is not valid JSON"),
    "empty JSON Lines": Edge(b"", "application/jsonlines", 400, "no records to score"),
    "only a header": Edge(f"{HEADER}\n".encode(), "text/csv", 400, "header but no data rows"),
    "only a header, no line end": Edge(HEADER.encode(), "text/csv", 400, "header but no data rows"),
    "only a Kaggle header and blank lines": Edge(
        b"FL_DATE,OP_CARRIER,OP_CARRIER_FL_NUM,ORIGIN,DEST,CRS_DEP_TIME\r\n\r\n\n",
        "text/csv",
        400,
        "record 0: a blank line; record 1: a blank line",
    ),
    "a short row under a header": Edge(
        f"{HEADER}\nUA,1545,EWR\n".encode(), "text/csv", 400, "record 0: 3 fields, but the header has 6"
    ),
    "ragged rows without a header": Edge(
        f"{ROW}\nUA,1545\n".encode(), "text/csv", 400, "record 1: 2 fields; without a header send 6 to 11"
    ),
    "a row too wide without a header": Edge(f"{ROW},0.5,0.5,60,x\n".encode(), "text/csv", 400, "record 0: 12 fields"),
    "quoted fields with commas and newlines": Edge(
        f'{HEADER},note\n{ROW6},"late, again\nand again"\n'.encode(),
        "text/csv",
        400,
        "the CSV header: unknown field 'note'",
    ),
    "a quoted newline inside a code": Edge(
        f'{HEADER}\n"U\nA",1545,EWR,IAH,2013-11-05,0515\n'.encode(),
        "text/csv",
        400,
        "record 0, field carrier: 'U\\nA' is not an IATA carrier code",
    ),
    "a UTF-8 BOM before the header": Edge(f"\ufeff{HEADER}\n{ROW6}\n".encode(), "text/csv", 200),
    "a UTF-8 BOM before JSON": Edge("\ufeff".encode() + jsonb(RECORD), "application/json", 200),
    "latin-1 bytes declared UTF-8": Edge(
        LATIN1_ROWS, "text/csv; charset=utf-8", 400, "not valid utf-8 text (byte 100)", on_gunicorn=True
    ),
    "charset=latin-1 is honoured": Edge(
        f"{HEADER}\n{ROW6.replace('UA', 'été', 1)}\n".encode("latin-1"),
        "text/csv; charset=latin-1",
        400,
        "record 0, field carrier: 'été' is not an IATA carrier code",
    ),
    "an unknown charset": Edge(ROW.encode(), "text/csv; charset=klingon", 415, "unknown charset 'klingon'"),
    "a charset that is no text encoding": Edge(ROW.encode(), "text/csv; charset=base64", 415, "not a text encoding"),
    "a charset without positions": Edge(b"\xff", "text/csv; charset=undefined", 400, "not valid undefined text"),
    "NaN in CSV": Edge(
        ROW.replace("1400", "NaN").encode(), "text/csv", 400, "record 0, field distance: 'NaN' is not a number"
    ),
    "NaN in JSON": Edge(
        jsonb({**RECORD, "crs_dep_time": float("nan")}),
        "application/json",
        400,
        "record 0, field crs_dep_time: a value is required",
    ),
    "inf in CSV": Edge(
        ROW.replace("0515", "inf").encode(), "text/csv", 400, "record 0, field crs_dep_time: 'inf' is not a time"
    ),
    "Infinity in JSON": Edge(
        jsonb({**RECORD, "distance": float("inf")}), "application/json", 400, "distance: inf is not a number"
    ),
    "1e999 in CSV": Edge(ROW.replace("1400", "1e999").encode(), "text/csv", 400, "distance: '1e999' is not a number"),
    "1e999 in JSON": Edge(
        (BIG_RECORD % "1e999").encode(), "application/json", 400, "flight_number: inf is not a whole number"
    ),
    "400 digits in CSV": Edge(ROW.replace("1545", "9" * 400).encode(), "text/csv", 400, "...' is outside 1..9999"),
    "a JSON integer beyond float range": Edge(
        (BIG_RECORD % ("9" * 400)).encode(), "application/json", 400, "flight_number: 9999999999"
    ),
    "a JSON integer beyond float range, past the compiled path": Edge(
        jsonb([RECORD] * 300 + [{**RECORD, "distance": -(10**400)}]),
        "application/json",
        400,
        "record 300, field distance: -100000000",
    ),
    "a JSON integer of 5000 digits": Edge(
        (BIG_RECORD % ("9" * 5000)).encode(), "application/json", 400, "a number with more than 4300 digits"
    ),
    "a huge integer as a code": Edge(
        jsonb({**RECORD, "carrier": 10**30}),
        "application/json",
        400,
        "field carrier: 1000000000000000000000000000000 is not an IATA carrier code",
    ),
    "10^6 columns in one row": Edge(
        ",".join(["1"] * 10**6).encode(), "text/csv", 400, "record 0: 1000000 fields", on_gunicorn=True
    ),
    "JSON nested 100,000 arrays deep": Edge(
        b"[" * 100_000 + b"]" * 100_000, "application/json", 400, "nested too deeply", on_gunicorn=True
    ),
    "JSON nested 100,000 objects deep": Edge(
        b'{"a":' * 100_000 + b"1" + b"}" * 100_000, "application/json", 400, "nested too deeply", on_gunicorn=True
    ),
    "JSON Lines nested 100,000 deep": Edge(
        b"[" * 100_000 + b"]" * 100_000 + b"\n", "application/jsonlines", 400, "record 0: the line is nested too deeply"
    ),
    "a pickle": Edge(pickle.dumps(RECORD), "application/python-pickle", 415, "is not supported", on_gunicorn=True),
    "a pickle declared JSON": Edge(pickle.dumps(RECORD), "application/json", 400, "not valid utf-8 text (byte 0)"),
    "a pickle declared CSV": Edge(pickle.dumps([RECORD]), "text/csv", 400, "not valid utf-8 text (byte 0)"),
    "gzip bytes declared CSV": Edge(
        gzip.compress(BULK_ROWS.encode()), "text/csv", 400, "not valid utf-8 text", on_gunicorn=True
    ),
    "gzip bytes with Content-Encoding: gzip (not inflated)": Edge(
        gzip.compress(BULK_ROWS.encode()),
        "text/csv",
        400,
        "not valid utf-8 text",
        headers=(("Content-Encoding", "gzip"),),
    ),
    "6 MiB of line ends, exactly the limit": Edge(
        b"\n" * LIMIT, "text/csv", 400, f"record 19: a blank line; and {LIMIT - 20} more ({LIMIT} ", on_gunicorn=True
    ),
    "6 MiB of one repeated row, exactly the limit": Edge(AT_LIMIT, "text/csv", 200),
    "the limit + 1 byte": Edge(
        b"\n" * (LIMIT + 1),
        "text/csv",
        413,
        f"larger than {LIMIT} bytes (SAGEMAKER_MAX_PAYLOAD_IN_MB)",
    ),
    "a CSV field over 128 KiB": Edge(
        f'{ROW},"{"x" * 140_000}"\n'.encode(), "text/csv", 400, "field larger than field limit", on_gunicorn=True
    ),
    "a line that splitlines() would split, past 64 KiB": Edge(
        f"{BULK_ROWS}{ROW6}\x1c{ROW6}\x1c{ROW6}\n".encode(), "text/csv", 400, "record 2000: 16 fields", on_gunicorn=True
    ),
    "a date-time with a time zone, past 64 KiB": Edge(
        (BULK_ROWS + ROW.replace("2013-11-05", "2013-11-05T23:00:00-05:00") + "\n").encode(),
        "text/csv",
        400,
        "record 2000, field flight_date: '2013-11-05T23:00:00-05:00' is not a date YYYY-MM-DD",
    ),
    "date-times with mixed time zones, past the compiled path": Edge(
        jsonb([{**RECORD, "flight_date": f"2013-11-05T23:00:00{zone}"} for zone in ("+05:00", "-08:00", "Z")] * 100),
        "application/json",
        400,
        "record 0, field flight_date: '2013-11-05T23:00:00+05:00' is not a date YYYY-MM-DD",
    ),
    "duplicate columns": Edge(
        f"{HEADER},carrier\n{ROW6},AA\n".encode(),
        "text/csv",
        400,
        "the CSV header: 'carrier' and 'carrier' both give field carrier",
    ),
    "a column and its Kaggle name": Edge(
        f"{HEADER},OP_CARRIER\n{ROW6},AA\n".encode(),
        "text/csv",
        400,
        "the CSV header: 'carrier' and 'OP_CARRIER' both give",
    ),
    "JSON with duplicate keys: the last one counts": Edge(
        b'{"carrier":"??","carrier":"UA","flight_number":1545,"origin":"EWR","dest":"IAH",'
        b'"flight_date":"2013-11-05","crs_dep_time":515}',
        "application/json",
        200,
    ),
    "JSON numbers as strings": Edge(
        jsonb({**RECORD, "flight_number": "1545", "crs_dep_time": "0515", "distance": "1400"}), "application/json", 200
    ),
    "JSON Lines with a blank line and CRLF": Edge(
        jsonb(RECORD) + b"\r\n\r\n" + jsonb(RECORD) + b"\r\n", "application/jsonlines", 400, "record 1: a blank line"
    ),
    "JSON Lines with U+2028 in a string": Edge(
        json.dumps({**RECORD, "carrier": "a\u2028b\x85c"}, ensure_ascii=False).encode(),
        "application/jsonlines",
        400,
        "record 0, field carrier: 'a\\u2028b\\x85c' is not an IATA carrier code",
    ),
    "a malformed Content-Type": Edge(ROW.encode(), ";;;", 415, "Content-Type '(none)' is not supported"),
    "no Content-Type": Edge(ROW.encode(), None, 415, "Content-Type '(none)' is not supported", on_gunicorn=True),
    "an Accept nothing answers": Edge(
        ROW.encode(), "text/csv", 406, "accept one of", headers=(("Accept", "application/xml, image/*"),)
    ),
    "an unknown path": Edge(b"", None, 404, "not found", method="GET", path="/nope", on_gunicorn=True),
    "another method": Edge(b"", None, 405, "not allowed", method="DELETE", on_gunicorn=True),
}


@pytest.mark.parametrize("name", EDGES)
def test_edge_cases_get_their_exact_status(fuzz_client: FlaskClient, name: str) -> None:
    edge = EDGES[name]
    response = send(fuzz_client, edge.request())
    assert response.status_code == edge.status, response.get_data(as_text=True)[:300]
    check(response, edge.method)
    if edge.status >= 400:
        assert edge.detail in response.get_json()["detail"]
    if edge.status == 405:
        assert set(response.headers["Allow"].split(", ")) == {"POST", "OPTIONS"}


@pytest.mark.parametrize("name", [name for name, edge in EDGES.items() if edge.on_gunicorn])
def test_edge_cases_get_the_same_status_from_gunicorn(gunicorn: Gunicorn, name: str) -> None:
    edge = EDGES[name]
    status, headers, body = gunicorn.send(edge.request())
    assert status == edge.status, body[:300]
    assert_well_formed(status, headers, body, edge.method)
