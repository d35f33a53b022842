"""The event shapes: the load balancer's and the function URL's requests and responses, and events of no shape."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from botocore.stub import Stubber

from delaycast_api.handler import Misconfigured
from tests.lambda_.support import (
    FLIGHT,
    FLIGHT_SENT,
    FakeContext,
    assert_valid_load_balancer_response,
    assert_valid_proxy_response,
    endpoint_answer,
    function_url_event,
    load_balancer_event,
    sent_line,
)

Calls = list[dict[str, Any]]
SHAPES_TAKEN = (
    "this function takes API Gateway REST API (payload 1.0) and HTTP API (payload 2.0) proxy events, "
    "Application Load Balancer events and Lambda function URL events"
)
NO_REQUEST = "the event is no HTTP request (no httpMethod, nor version 2.0's requestContext.http.method)"


@pytest.mark.parametrize("multi_value", [False, True], ids=["headers", "multi-value-headers"])
def test_a_load_balancer_request_is_scored_and_answered_in_its_shape(
    make_handler: Callable[..., Any], stubber: Stubber, calls: Calls, multi_value: bool
) -> None:
    stubber.add_response("invoke_endpoint", endpoint_answer(0.27))
    event = load_balancer_event(json.dumps(FLIGHT), multi_value=multi_value)
    response = make_handler().handle(event, FakeContext())
    body = assert_valid_load_balancer_response(response, multi_value=multi_value)
    assert (response["statusCode"], response["statusDescription"]) == (200, "200 OK")
    assert body["probability"] == 0.27
    assert calls[0]["Body"].decode() == sent_line(FLIGHT_SENT) + "\n"


@pytest.mark.parametrize("multi_value", [False, True], ids=["headers", "multi-value-headers"])
def test_load_balancer_failures_are_in_its_shape_too(
    make_handler: Callable[..., Any], calls: Calls, multi_value: bool
) -> None:
    handler = make_handler()
    for event, status, description in [
        (load_balancer_event("{", multi_value=multi_value), 400, "400 Bad Request"),
        (load_balancer_event(None, method="GET", multi_value=multi_value), 405, "405 Method Not Allowed"),
        (load_balancer_event(None, method="OPTIONS", multi_value=multi_value), 204, "204 No Content"),
        (
            load_balancer_event(json.dumps(FLIGHT), multi_value=multi_value, headers={"Content-Type": "text/plain"}),
            415,
            "415 Unsupported Media Type",
        ),
    ]:
        response = handler.handle(event, FakeContext())
        assert_valid_load_balancer_response(response, multi_value=multi_value)
        assert (response["statusCode"], response["statusDescription"]) == (status, description)
    assert calls == []


def test_the_load_balancers_multi_value_headers_are_read(make_handler: Callable[..., Any], stubber: Stubber) -> None:
    stubber.add_response("invoke_endpoint", endpoint_answer(0.3))
    event = load_balancer_event("UA,1545,EWR,IAH,2013-11-05,0515", multi_value=True)
    event["multiValueHeaders"] = {"Content-Type": ["text/csv"], "Accept": ["application/json", "*/*"]}
    response = make_handler().handle(event, FakeContext())
    assert assert_valid_load_balancer_response(response, multi_value=True)[0]["probability"] == 0.3


def test_a_function_url_request_is_answered_in_the_http_api_shape(
    make_handler: Callable[..., Any], stubber: Stubber, calls: Calls, caplog: pytest.LogCaptureFixture
) -> None:
    stubber.add_response("invoke_endpoint", endpoint_answer(0.4))
    response = make_handler().handle(function_url_event(json.dumps(FLIGHT)), None)
    assert assert_valid_proxy_response(response)["probability"] == 0.4
    assert response["headers"]["X-Request-Id"] == "url-5c2d7e11"
    line = json.loads(caplog.records[-1].getMessage())
    assert (line["event"], line["status"]) == ("function-url", 200)


NOT_HTTP_REQUESTS = {
    "console test event": {},
    "SQS": {"Records": [{"messageId": "1", "eventSource": "aws:sqs", "body": json.dumps(FLIGHT)}]},
    "S3": {"Records": [{"eventSource": "aws:s3", "s3": {"bucket": {"name": "b"}, "object": {"key": "k"}}}]},
    "EventBridge": {"version": "0", "id": "1", "detail-type": "Scheduled Event", "source": "aws.events"},
    "VPC Lattice 1": {"raw_path": "/predict", "method": "POST", "headers": {}, "body": json.dumps(FLIGHT)},
    "VPC Lattice 2": {"version": "2.0", "path": "/predict", "method": "POST", "requestContext": {"region": "x"}},
    "REST API version 3": {"version": "3.0", "httpMethod": "POST", "body": json.dumps(FLIGHT)},
}


@pytest.mark.parametrize("event", NOT_HTTP_REQUESTS.values(), ids=NOT_HTTP_REQUESTS.keys())
def test_an_event_that_is_no_http_request_is_400_naming_the_shapes_taken(
    make_handler: Callable[..., Any], calls: Calls, event: dict[str, Any]
) -> None:
    response = make_handler().handle(event, FakeContext())
    body = assert_valid_proxy_response(response)
    assert response["statusCode"] == 400
    assert body["detail"] == f"{NO_REQUEST}; {SHAPES_TAKEN}"
    assert calls == []


@pytest.mark.parametrize(("event", "kind"), [([], "array"), ("POST", "string"), (None, "null"), (42, "number")])
def test_an_event_that_is_no_object_is_400_naming_the_shapes_taken(
    make_handler: Callable[..., Any], event: object, kind: str
) -> None:
    body = assert_valid_proxy_response(make_handler().handle(event, FakeContext()))
    assert body["detail"] == f"the event is a JSON {kind}, not an object; {SHAPES_TAKEN}"


@pytest.mark.parametrize("multi_value", [False, True], ids=["headers", "multi-value-headers"])
def test_a_misconfigured_function_answers_the_load_balancer_in_its_shape(multi_value: bool) -> None:
    response = Misconfigured("ENDPOINT_NAME is missing", "*").handle(
        load_balancer_event(json.dumps(FLIGHT), multi_value=multi_value), FakeContext()
    )
    body = assert_valid_load_balancer_response(response, multi_value=multi_value)
    assert response["statusDescription"] == "500 Internal Server Error"
    assert body["detail"].startswith("the service is misconfigured")
