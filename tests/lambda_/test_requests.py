"""API Gateway's two payload formats and function URLs end to end on a stubbed endpoint: 200s, CSV, base64,
headers, CORS, 405, 413, 415."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from botocore.stub import Stubber

from tests.lambda_.conftest import ENDPOINT, EventMaker
from tests.lambda_.support import (
    FLIGHT,
    FLIGHT_SENT,
    FakeContext,
    assert_valid_proxy_response,
    endpoint_answer,
    http_event,
    raw_answer,
    rest_event,
    sent_line,
)

Calls = list[dict[str, Any]]


def test_one_flight_is_scored(
    make_handler: Callable[..., Any], make_event: EventMaker, stubber: Stubber, calls: Calls
) -> None:
    expected = {
        "EndpointName": ENDPOINT,
        "ContentType": "text/csv",
        "Accept": "application/json",
        "Body": (sent_line(FLIGHT_SENT) + "\n").encode(),
    }
    stubber.add_response("invoke_endpoint", endpoint_answer(0.27), expected)
    response = make_handler().handle(make_event(json.dumps(FLIGHT)), FakeContext())
    body = assert_valid_proxy_response(response)
    assert response["statusCode"] == 200
    assert body == {"prediction": "delay", "probability": 0.27, "threshold": 0.2, "model_version": "0.1.0-test"}
    assert len(calls) == 1


def test_a_list_of_flights_gets_a_list_in_order(
    make_handler: Callable[..., Any], make_event: EventMaker, stubber: Stubber
) -> None:
    stubber.add_response("invoke_endpoint", endpoint_answer(0.05, 0.5, 0.2))
    response = make_handler().handle(make_event(json.dumps([FLIGHT, FLIGHT, FLIGHT])), FakeContext())
    body = assert_valid_proxy_response(response)
    assert response["statusCode"] == 200
    assert [r["prediction"] for r in body] == ["no delay", "delay", "delay"]
    assert [r["probability"] for r in body] == [0.05, 0.5, 0.2]
    assert all(type(r["probability"]) is float and type(r["threshold"]) is float for r in body)


def test_whole_number_probabilities_stay_floats(make_handler: Callable[..., Any], stubber: Stubber) -> None:
    answer = b'{"model_version":"7","predictions":[{"prediction":"no delay","probability":0,"threshold":1}]}'
    stubber.add_response("invoke_endpoint", raw_answer(answer))
    response = make_handler().handle(rest_event(json.dumps([FLIGHT])), FakeContext())
    body = assert_valid_proxy_response(response)
    assert body == [{"prediction": "no delay", "probability": 0.0, "threshold": 1.0, "model_version": "7"}]
    assert '"probability": 0.0' in response["body"]


def test_csv_body_is_validated_and_sent_in_field_order(
    make_handler: Callable[..., Any], make_event: EventMaker, stubber: Stubber, calls: Calls
) -> None:
    csv_body = "ua,1545,ewr,IAH,2013-11-05,05:15,0819,1400\r\n\r\nB6,725,JFK,BQN,2013-12-20,2359\r\n"
    stubber.add_response("invoke_endpoint", endpoint_answer(0.1, 0.9))
    event = make_event(csv_body, headers={"Content-Type": "text/csv; charset=utf-8"})
    response = make_handler().handle(event, FakeContext())
    body = assert_valid_proxy_response(response)
    assert response["statusCode"] == 200
    assert [r["prediction"] for r in body] == ["no delay", "delay"]
    second = {"carrier": "B6", "flight_number": "725", "origin": "JFK", "dest": "BQN", "flight_date": "2013-12-20"}
    second |= {"crs_dep_time": "2359", "crs_arr_time": "", "distance": ""}
    second |= {"origin_delay_rate_prev_day": "", "origin_delay_rate_today": "", "minutes_to_departure": ""}
    assert calls[0]["Body"].decode().splitlines() == [sent_line(FLIGHT_SENT), sent_line(second)]


def test_a_one_line_csv_still_answers_a_list(make_handler: Callable[..., Any], stubber: Stubber) -> None:
    stubber.add_response("invoke_endpoint", endpoint_answer(0.1))
    event = http_event("B6,725,JFK,BQN,2013-12-20,2359", headers={"content-type": "text/csv"})
    body = assert_valid_proxy_response(make_handler().handle(event, FakeContext()))
    assert isinstance(body, list)
    assert len(body) == 1


def test_base64_body(make_handler: Callable[..., Any], make_event: EventMaker, stubber: Stubber, calls: Calls) -> None:
    stubber.add_response("invoke_endpoint", endpoint_answer(0.3))
    event = make_event(json.dumps(FLIGHT).encode(), base64_body=True)
    response = make_handler().handle(event, FakeContext())
    assert assert_valid_proxy_response(response)["probability"] == 0.3
    assert calls[0]["Body"].decode() == sent_line(FLIGHT_SENT) + "\n"


@pytest.mark.parametrize(
    "headers",
    [
        {"CONTENT-TYPE": "text/csv"},
        {"content-Type": "TEXT/CSV; Charset=UTF-8"},
        {"Content-type": "text/csv", "X-Amzn-Trace-Id": "Root=1-delaycast"},
    ],
)
def test_header_names_and_media_types_in_any_case(
    make_handler: Callable[..., Any], make_event: EventMaker, stubber: Stubber, headers: dict[str, str]
) -> None:
    stubber.add_response("invoke_endpoint", endpoint_answer(0.3))
    response = make_handler().handle(make_event("UA,1545,EWR,IAH,2013-11-05,0515", headers=headers), FakeContext())
    assert assert_valid_proxy_response(response)[0]["probability"] == 0.3


def test_rest_event_with_only_multi_value_headers(make_handler: Callable[..., Any], stubber: Stubber) -> None:
    stubber.add_response("invoke_endpoint", endpoint_answer(0.3))
    event = rest_event("UA,1545,EWR,IAH,2013-11-05,0515")
    event["headers"] = None
    event["multiValueHeaders"] = {"Content-Type": ["text/csv"], "Accept": ["application/json", "*/*"]}
    response = make_handler().handle(event, FakeContext())
    assert_valid_proxy_response(response)
    assert response["statusCode"] == 200


def test_no_content_type_is_read_as_json(make_handler: Callable[..., Any], stubber: Stubber) -> None:
    stubber.add_response("invoke_endpoint", endpoint_answer(0.3))
    response = make_handler().handle(http_event(json.dumps(FLIGHT), headers={}), FakeContext())
    assert assert_valid_proxy_response(response)["probability"] == 0.3


def test_options_preflight_is_204_with_cors(
    make_handler: Callable[..., Any], make_event: EventMaker, calls: Calls
) -> None:
    handler = make_handler(cors_allow_origin="https://delays.example.org")
    response = handler.handle(
        make_event(None, method="OPTIONS", headers={"Origin": "https://delays.example.org"}), None
    )
    assert assert_valid_proxy_response(response) is None
    assert response["statusCode"] == 204
    headers = response["headers"]
    assert headers["Access-Control-Allow-Origin"] == "https://delays.example.org"
    assert "POST" in headers["Access-Control-Allow-Methods"]
    assert "Content-Type" in headers["Access-Control-Allow-Headers"]
    assert int(headers["Access-Control-Max-Age"]) > 0
    assert calls == []


def test_every_answer_carries_the_cors_origin(make_handler: Callable[..., Any], stubber: Stubber) -> None:
    stubber.add_response("invoke_endpoint", endpoint_answer(0.3))
    handler = make_handler(cors_allow_origin="https://delays.example.org")
    for event in (http_event(json.dumps(FLIGHT)), http_event("{"), http_event(None, method="GET")):
        response = handler.handle(event, FakeContext())
        assert_valid_proxy_response(response)
        assert response["headers"]["Access-Control-Allow-Origin"] == "https://delays.example.org"


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH", "HEAD"])
def test_methods_other_than_post_are_405(
    make_handler: Callable[..., Any], make_event: EventMaker, calls: Calls, method: str
) -> None:
    response = make_handler().handle(make_event(json.dumps(FLIGHT), method=method), FakeContext())
    body = assert_valid_proxy_response(response)
    assert response["statusCode"] == 405
    assert response["headers"]["Allow"] == "OPTIONS, POST"
    assert method in body["detail"]
    assert calls == []


@pytest.mark.parametrize("base64_body", [False, True])
def test_a_body_over_the_limit_is_413(
    make_handler: Callable[..., Any], make_event: EventMaker, calls: Calls, base64_body: bool
) -> None:
    body = json.dumps([FLIGHT] * 2000)  # ~290 KB, over the 256 KiB default
    response = make_handler().handle(make_event(body, base64_body=base64_body), FakeContext())
    assert assert_valid_proxy_response(response)["error"] == "request entity too large"
    assert response["statusCode"] == 413
    assert calls == []


def test_curls_default_media_type_is_read_as_json(
    make_handler: Callable[..., Any], make_event: EventMaker, stubber: Stubber
) -> None:
    stubber.add_response("invoke_endpoint", endpoint_answer(0.27))
    headers = {"Content-Type": "application/x-www-form-urlencoded"}  # curl -d without -H
    response = make_handler().handle(make_event(json.dumps(FLIGHT), headers=headers), None)
    assert assert_valid_proxy_response(response)["probability"] == 0.27


@pytest.mark.parametrize("content_type", ["text/plain", "application/xml", "text/html"])
def test_other_media_types_are_415(
    make_handler: Callable[..., Any], make_event: EventMaker, calls: Calls, content_type: str
) -> None:
    response = make_handler().handle(make_event(json.dumps(FLIGHT), headers={"Content-Type": content_type}), None)
    assert content_type in assert_valid_proxy_response(response)["detail"]
    assert response["statusCode"] == 415
    assert calls == []


def test_probability_and_threshold_are_rounded_to_four_decimals(
    make_handler: Callable[..., Any], stubber: Stubber
) -> None:
    answer = b'{"model_version":"7","predictions":[{"prediction":"delay","probability":0.20794,"threshold":0.2079049}]}'
    stubber.add_response("invoke_endpoint", raw_answer(answer))
    response = make_handler().handle(rest_event(json.dumps(FLIGHT)), FakeContext())
    assert assert_valid_proxy_response(response) == {
        "prediction": "delay",
        "probability": 0.2079,
        "threshold": 0.2079,
        "model_version": "7",
    }
