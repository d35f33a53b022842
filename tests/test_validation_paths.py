"""One table of inputs through every path that validates a record: the same verdict and the same message.

The paths: the Lambda (`delaycast_api`, which sends what it accepts to the container as CSV), the container's
single-record path (one JSON object or CSV line: the C plain reader, else `validate_record`) and its bulk path
(`coerce_frame`: a JSON list past the per-record limit, a CSV body past 64 KiB). The Lambda's endpoint here is
the container's Flask app, so an accepted record is also scored from the Lambda's CSV line.
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from flask.testing import FlaskClient

from delaycast.fields import FIELD_NAMES, FIELDS
from delaycast_api.endpoint import DECIMALS
from delaycast_api.handler import Handler
from delaycast_api.settings import Settings
from serve.app import create_app
from serve.codecs import BULK_CSV_CHARS
from serve.runtime import COMPILED_MAX_RECORDS, ModelRuntime
from serve.settings import ServerSettings
from tests.delaycast.test_fields import ACCEPTED, REFUSED

FLIGHT: dict[str, Any] = {
    "carrier": "UA",
    "flight_number": 1545,
    "origin": "EWR",
    "dest": "IAH",
    "flight_date": "2013-11-05",
    "crs_dep_time": 515,
    "crs_arr_time": 819,
    "distance": 1400,
}
NUMBERS = {spec.name for spec in FIELDS if spec.kind in ("int", "hhmm", "float")}  # a JSON number's CSV cell
Verdict = tuple[str, float | str]  # ("accepted", probability) or ("refused", message)


def changed(**values: Any) -> dict[str, Any]:
    """FLIGHT with some fields changed; a value of ... removes the field."""
    return {name: value for name, value in {**FLIGHT, **values}.items() if value is not ...}


# The cases of issue 16, then every case of the grammar's own table (tests/delaycast/test_fields.py).
CASES: list[tuple[str, object, str | None]] = [
    ("a time as HH:MM", changed(crs_dep_time="05:15"), None),
    ("a time as HHMM text", changed(crs_dep_time="0515"), None),
    ("the ligature st is no S and T", changed(dest="\ufb05x"), "record 0, field dest: '\ufb05x' is not an IATA"),
    ("sharp s is no SS", changed(carrier="\u00df"), "record 0, field carrier: '\u00df' is not an IATA carrier"),
    ("dotless i is no I", changed(origin="\u0131ah"), "record 0, field origin: '\u0131ah' is not an IATA airport"),
    ("Arabic-Indic digits", changed(flight_number="\u0661\u0665\u0664\u0665"), "field flight_number: '\u0661"),
    ("an exponent in a flight number", changed(flight_number="1e3"), "field flight_number: '1e3' is not a whole"),
    ("an underscore in a flight number", changed(flight_number="1_545"), "field flight_number: '1_545' is not"),
    ("a sign on a flight number", changed(flight_number="+1545"), "field flight_number: '+1545' is not a whole"),
    ("an exponent in a time", changed(crs_dep_time="1e3"), "field crs_dep_time: '1e3' is not a time"),
    ("an unknown field", changed(gate="B12"), "record 0: unknown field 'gate'; the fields are carrier, flight"),
    ("a field and its Kaggle name", changed(OP_CARRIER="UA"), "record 0: 'carrier' and 'OP_CARRIER' both give"),
    ("Kaggle names in any case", {**changed(carrier=...), "op_carrier": "UA"}, None),
    ("a missing required field", changed(crs_dep_time=...), "record 0, field crs_dep_time: a value is required"),
    ("null for an optional field", changed(distance=None), None),
    *(
        (f"{name} {value!r}", changed(**{name: value}), None)
        for name, value, _ in ACCEPTED
        if value is None or isinstance(value, str | int) or (isinstance(value, float) and value == value)
    ),
    *(
        (f"{name} {value!r}", changed(**{name: value}), f"record 0, field {name}: {reason}")
        for name, value, reason in REFUSED
        if not (isinstance(value, float) and value in (float("inf"), float("-inf")))  # JSON has none
    ),
]
# Cases a CSV cell can say: text values (an absent one as an empty cell) and no structural changes.
CSV_CASES = [
    (name, document, expected)
    for name, document, expected in CASES
    if isinstance(document, dict)
    and set(document) <= set(FIELD_NAMES)
    and all(v is None or isinstance(v, str) or (type(v) is int and n in NUMBERS) for n, v in document.items())
    and not any(set(str(v)) & set(',"\r\n') for v in document.values())
]


class ContainerEndpoint:
    """InvokeEndpoint answered by the container's app, with SageMaker's ModelError for its 4xx and 5xx."""

    def __init__(self, client: FlaskClient) -> None:
        self.client = client

    def invoke_endpoint(self, **params: Any) -> Mapping[str, Any]:
        """POST the body to /invocations, as SageMaker does."""
        response = self.client.post(
            "/invocations",
            data=params["Body"],
            headers={"Content-Type": params["ContentType"], "Accept": params["Accept"]},
        )
        if response.status_code != 200:
            error = {
                "Error": {"Code": "ModelError", "Message": "Received client error from primary"},
                "OriginalStatusCode": response.status_code,
                "OriginalMessage": response.get_data(as_text=True),
            }
            raise ClientError(error, "InvokeEndpoint")
        return {"Body": io.BytesIO(response.get_data()), "ContentType": response.mimetype}


@pytest.fixture(scope="module")
def container(model_dir: Path) -> FlaskClient:
    """The container's app on the compiled model, as `python -m serve` runs it."""
    runtime = ModelRuntime.load(model_dir)
    assert runtime.compiled is not None
    return create_app(runtime, ServerSettings()).test_client()


@pytest.fixture(scope="module")
def lambda_handler(container: FlaskClient) -> Handler:
    return Handler(Settings(endpoint_name="delaycast-test"), client=ContainerEndpoint(container))


def verdict_of(status: int, document: Any, first: Any) -> Verdict:
    if status == 200:
        return ("accepted", round(float(first["probability"]), DECIMALS))  # the API's precision
    return ("refused", str(document["detail"]))


def through_lambda(handler: Handler, body: str, content_type: str) -> Verdict:
    event = {
        "version": "2.0",
        "routeKey": "POST /v1/predict",
        "rawPath": "/v1/predict",
        "headers": {"content-type": content_type},
        "requestContext": {"http": {"method": "POST", "path": "/v1/predict"}, "requestId": "test"},
        "body": body,
        "isBase64Encoded": False,
    }
    response = handler.handle(event, None)
    document = json.loads(response["body"])
    if response["statusCode"] != 200:
        return verdict_of(response["statusCode"], document, None)
    return verdict_of(200, document, document if isinstance(document, dict) else document[0])


def through_container(client: FlaskClient, body: str, content_type: str) -> Verdict:
    response = client.post("/invocations", data=body.encode(), headers={"Content-Type": content_type})
    document = response.get_json()
    first = document["predictions"][0] if response.status_code == 200 else None
    return verdict_of(response.status_code, document, first)


def expected_verdict(verdicts: dict[str, Verdict], expected: str | None) -> None:
    assert len(set(verdicts.values())) == 1, verdicts
    kind, value = next(iter(verdicts.values()))
    if expected is None:
        assert kind == "accepted", verdicts
    else:
        assert kind == "refused", verdicts
        assert str(value).startswith(expected) or expected in str(value), verdicts


@pytest.mark.parametrize(("name", "document", "expected"), CASES, ids=[case[0] for case in CASES])
def test_json_records_get_one_verdict_and_message_on_every_path(
    lambda_handler: Handler, container: FlaskClient, name: str, document: object, expected: str | None
) -> None:
    single = json.dumps(document)
    bulk = json.dumps([document, *[FLIGHT] * COMPILED_MAX_RECORDS])
    verdicts = {
        "lambda": through_lambda(lambda_handler, single, "application/json"),
        "container, one record": through_container(container, single, "application/json"),
        "container, bulk": through_container(container, bulk, "application/json"),
    }
    expected_verdict(verdicts, expected)


def csv_line(document: Mapping[str, Any]) -> str:
    return ",".join("" if document.get(n) is None else str(document[n]) for n in FIELD_NAMES)


@pytest.mark.parametrize(("name", "document", "expected"), CSV_CASES, ids=[case[0] for case in CSV_CASES])
def test_csv_lines_get_one_verdict_and_message_on_every_path(
    lambda_handler: Handler, container: FlaskClient, name: str, document: dict[str, Any], expected: str | None
) -> None:
    line = csv_line(document) + "\n"
    rest = csv_line(FLIGHT) + "\n"
    verdicts = {
        "lambda": through_lambda(lambda_handler, line, "text/csv"),
        "container, one record": through_container(container, line, "text/csv"),
        "container, bulk": through_container(container, line + rest * (BULK_CSV_CHARS // len(rest) + 1), "text/csv"),
    }
    # A number sent as a CSV cell is text: its message quotes it as text ('10000', not 10000).
    expected_verdict(verdicts, None if expected is None else expected.split(":")[0])


def test_the_table_covers_both_verdicts_and_csv() -> None:
    assert sum(expected is None for *_, expected in CASES) >= 20
    assert sum(expected is not None for *_, expected in CASES) >= 40
    assert len(CSV_CASES) >= 40
