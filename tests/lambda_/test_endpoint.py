"""Endpoint failures mapped to statuses the caller can act on, never leaking internals; timeouts on 127.0.0.1."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from delaycast_api.endpoint import make_client
from delaycast_api.settings import Settings
from tests.lambda_.conftest import EventMaker
from tests.lambda_.support import (
    FLIGHT,
    FakeContext,
    assert_valid_proxy_response,
    endpoint_answer,
    raw_answer,
    rest_event,
)

REQUEST_ID = FakeContext().aws_request_id
SECRET = "arn:aws:sagemaker:us-east-1:000000000000:endpoint/delaycast-test"


def score(handler: Any, event: dict[str, Any]) -> tuple[dict[str, Any], Any]:
    response = handler.handle(event, FakeContext())
    return response, assert_valid_proxy_response(response)


def test_model_error_4xx_passes_the_containers_detail(
    make_handler: Callable[..., Any], make_event: EventMaker, stubber: Stubber
) -> None:
    container_body = {"error": "invalid input", "detail": "record 1, field dest: 'ZZZ' is not an airport we know"}
    stubber.add_client_error(
        "invoke_endpoint",
        "ModelError",
        f"Received client error (400) from primary with message ... See {SECRET} in account 000000000000",
        424,
        modeled_fields={"OriginalStatusCode": 400, "OriginalMessage": json.dumps(container_body)},
    )
    response, body = score(make_handler(), make_event(json.dumps(FLIGHT)))
    assert response["statusCode"] == 502
    assert body["detail"].startswith("the model refused the flights: record 1, field dest: 'ZZZ' is not an airport")
    assert "000000000000" not in response["body"]


def test_model_error_4xx_without_a_json_detail(make_handler: Callable[..., Any], stubber: Stubber) -> None:
    modeled = {"OriginalStatusCode": 415, "OriginalMessage": "<html>Unsupported</html>"}
    stubber.add_client_error("invoke_endpoint", "ModelError", "client error (415)", 424, modeled_fields=modeled)
    response, body = score(make_handler(), rest_event(json.dumps(FLIGHT)))
    assert response["statusCode"] == 502
    assert body["detail"].startswith("the model refused the flights: status 415")
    assert "html" not in response["body"]


def test_model_error_5xx_is_a_generic_502(
    make_handler: Callable[..., Any], make_event: EventMaker, stubber: Stubber
) -> None:
    modeled = {"OriginalStatusCode": 500, "OriginalMessage": '{"error":"internal error","detail":"KeyError: model"}'}
    stubber.add_client_error("invoke_endpoint", "ModelError", "server error (500)", 424, modeled_fields=modeled)
    response, body = score(make_handler(), make_event(json.dumps(FLIGHT)))
    assert response["statusCode"] == 502
    assert body["error"] == "bad gateway"
    assert body["detail"] == f"the model failed on this request (request id {REQUEST_ID})"


def test_throttling_is_429_with_retry_after(
    make_handler: Callable[..., Any], make_event: EventMaker, stubber: Stubber
) -> None:
    stubber.add_client_error("invoke_endpoint", "ThrottlingException", "Rate exceeded", 400)
    response, _body = score(make_handler(), make_event(json.dumps(FLIGHT)))
    assert response["statusCode"] == 429
    assert int(response["headers"]["Retry-After"]) > 0
    assert "Rate exceeded" not in response["body"]


@pytest.mark.parametrize(("code", "http_status"), [("ModelNotReadyException", 429), ("ServiceUnavailable", 503)])
def test_a_model_not_ready_is_503_with_retry_after(
    make_handler: Callable[..., Any], make_event: EventMaker, stubber: Stubber, code: str, http_status: int
) -> None:
    stubber.add_client_error("invoke_endpoint", code, "Model is still loading", http_status)
    response, _body = score(make_handler(), make_event(json.dumps(FLIGHT)))
    assert response["statusCode"] == 503
    assert int(response["headers"]["Retry-After"]) > 0
    assert "still loading" not in response["body"]


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("ValidationError", f"Endpoint delaycast-test of account 000000000000 not found. ({SECRET})"),
        ("InternalFailure", f"internal failure at {SECRET}"),
        ("AccessDeniedException", f"User {SECRET} is not authorized to perform: sagemaker:InvokeEndpoint"),
    ],
)
def test_other_endpoint_errors_are_500_with_the_request_id(
    make_handler: Callable[..., Any],
    make_event: EventMaker,
    stubber: Stubber,
    code: str,
    message: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    stubber.add_client_error("invoke_endpoint", code, message, 400)
    response, body = score(make_handler(), make_event(json.dumps(FLIGHT)))
    assert response["statusCode"] == 500
    assert body == {
        "error": "internal server error",
        "detail": f"the service failed on this request (request id {REQUEST_ID})",
    }
    assert response["headers"]["X-Request-Id"] == REQUEST_ID
    line = json.loads(caplog.records[-1].getMessage())
    assert (line["status"], line["endpoint_error"], line["cause"]) == (500, code, message)  # the operator's view


def test_an_unexpected_exception_is_500_with_no_internals(
    make_handler: Callable[..., Any], make_event: EventMaker, caplog: pytest.LogCaptureFixture
) -> None:
    def explode(**_: Any) -> None:
        raise RuntimeError(f"secret internals at {SECRET}")

    client = boto3.client("sagemaker-runtime", region_name="us-east-1")
    client.meta.events.register("before-call.sagemaker-runtime.InvokeEndpoint", explode)
    response, body = score(make_handler(client=client), make_event(json.dumps(FLIGHT)))
    assert response["statusCode"] == 500
    assert REQUEST_ID in body["detail"]
    assert "secret" not in response["body"]
    assert "RuntimeError" not in response["body"]
    assert "RuntimeError: secret internals" in caplog.text  # the traceback goes to the log only


MALFORMED = [
    b"<html><body>502 Bad Gateway</body></html>",
    b'[{"prediction":"delay","probability":0.3,"threshold":0.2}]',
    b'{"model_version":"1","predictions":[]}',
    b'{"model_version":"1","predictions":[{"prediction":"delay","probability":0.3,"threshold":0.2},'
    b'{"prediction":"delay","probability":0.3,"threshold":0.2}]}',
    b'{"predictions":[{"prediction":"delay","probability":0.3,"threshold":0.2}]}',
    b'{"model_version":"1","predictions":[{"prediction":"late","probability":0.3,"threshold":0.2}]}',
    b'{"model_version":"1","predictions":[{"prediction":"delay","probability":"0.3","threshold":0.2}]}',
    b'{"model_version":"1","predictions":[{"prediction":"delay","probability":1.7,"threshold":0.2}]}',
    b'{"model_version":"1","predictions":[{"prediction":"delay","probability":NaN,"threshold":0.2}]}',
    b'{"model_version":"1","predictions":[{"prediction":"delay","probability":true,"threshold":0.2}]}',
    b'{"model_version":"1","predictions":["delay"]}',
]


@pytest.mark.parametrize("answer", MALFORMED)
def test_a_malformed_answer_is_502(make_handler: Callable[..., Any], stubber: Stubber, answer: bytes) -> None:
    stubber.add_response("invoke_endpoint", raw_answer(answer))
    response, body = score(make_handler(), rest_event(json.dumps(FLIGHT)))
    assert response["statusCode"] == 502
    assert body["detail"] == f"the model answered in an unexpected format (request id {REQUEST_ID})"


def test_a_read_timeout_is_504(make_handler: Callable[..., Any], make_event: EventMaker, silent_url: str) -> None:
    handler = make_handler(client=None, runtime_url=silent_url, read_timeout_seconds=0.3)
    started = time.monotonic()
    response, body = score(handler, make_event(json.dumps(FLIGHT)))
    assert response["statusCode"] == 504
    assert body["error"] == "gateway timeout"
    assert time.monotonic() - started < 5


def test_a_refused_connection_is_503(
    make_handler: Callable[..., Any], make_event: EventMaker, refused_url: str
) -> None:
    response, _body = score(make_handler(client=None, runtime_url=refused_url), make_event(json.dumps(FLIGHT)))
    assert response["statusCode"] == 503
    assert int(response["headers"]["Retry-After"]) > 0
    assert "127.0.0.1" not in response["body"]


def test_the_client_is_configured_for_a_lambda() -> None:
    client: Any = make_client(Settings(endpoint_name="e", region="eu-west-1", read_timeout_seconds=7.0))
    config = client.meta.config
    assert (config.region_name, config.read_timeout, config.connect_timeout) == ("eu-west-1", 7.0, 2.0)
    assert config.retries == {"total_max_attempts": 2, "mode": "standard"}


def test_the_stubbed_answer_is_what_the_container_writes(make_handler: Callable[..., Any], stubber: Stubber) -> None:
    stubber.add_response("invoke_endpoint", endpoint_answer(0.123456789, threshold=0.2021))
    _response, body = score(make_handler(), rest_event(json.dumps(FLIGHT)))
    assert (body["probability"], body["threshold"]) == (0.1235, 0.2021)  # the API rounds to 4 decimals
