"""Events of the four shapes the handler takes (REST API 1.0, HTTP API 2.0, function URL, load balancer), the
response-contract checks, and canned endpoint answers."""

from __future__ import annotations

import base64
import io
import json
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

import numpy as np
from botocore.response import StreamingBody

from delaycast.fields import FIELD_NAMES
from serve.codecs import JsonCodec
from serve.payloads import Predictions

PROXY_KEYS = {"statusCode", "headers", "body", "isBase64Encoded"}
LOAD_BALANCER_KEYS = {"statusCode", "statusDescription", "body", "isBase64Encoded"}  # and headers or multiValueHeaders

# One flight as a person would send it: human times, lower-case codes, keys in no particular order.
FLIGHT: dict[str, Any] = {
    "dest": "iah",
    "flight_date": "2013-11-05",
    "carrier": "ua",
    "crs_dep_time": "05:15",
    "origin": "EWR",
    "flight_number": 1545,
    "crs_arr_time": 819,
    "distance": 1400,
}
# The same flight as the endpoint must receive it, field by field.
FLIGHT_SENT: dict[str, str] = {
    "carrier": "UA",
    "flight_number": "1545",
    "origin": "EWR",
    "dest": "IAH",
    "flight_date": "2013-11-05",
    "crs_dep_time": "0515",
    "crs_arr_time": "0819",
    "distance": "1400.0",
    "origin_delay_rate_prev_day": "",
    "origin_delay_rate_today": "",
    "minutes_to_departure": "",
}


@dataclass(frozen=True)
class FakeContext:
    """The attributes of a Lambda context object that the handler reads."""

    aws_request_id: str = "7d6f1a2e-5b1c-4c11-9a61-delaycast001"
    function_name: str = "delaycast-predict"


def _body(body: str | bytes | None, base64_body: bool) -> str | None:
    if body is None:
        return None
    data = body.encode() if isinstance(body, str) else body
    return base64.b64encode(data).decode() if base64_body else data.decode()


def rest_event(
    body: str | bytes | None,
    *,
    method: str = "POST",
    headers: dict[str, str] | None = None,
    base64_body: bool = False,
) -> dict[str, Any]:
    """A REST API Lambda proxy event (payload 1.0) for POST /v1/predict on stage `prod`."""
    headers = {"Content-Type": "application/json", "X-Forwarded-For": "192.0.2.10"} if headers is None else headers
    return {
        "resource": "/v1/predict",
        "path": "/v1/predict",
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {name: [value] for name, value in headers.items()},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {
            "accountId": "000000000000",
            "apiId": "dlyc4st001",
            "resourcePath": "/v1/predict",
            "httpMethod": method,
            "path": "/prod/v1/predict",
            "stage": "prod",
            "requestId": "rest-7f3c0d1e",
            "identity": {"sourceIp": "192.0.2.10", "userAgent": "delaycast-tests/1.0", "apiKey": None},
        },
        "body": _body(body, base64_body),
        "isBase64Encoded": base64_body,
    }


def http_event(
    body: str | bytes | None,
    *,
    method: str = "POST",
    headers: dict[str, str] | None = None,
    base64_body: bool = False,
) -> dict[str, Any]:
    """An HTTP API Lambda proxy event (payload 2.0) for route `POST /v1/predict` on `$default`."""
    headers = {"content-type": "application/json", "x-forwarded-for": "198.51.100.7"} if headers is None else headers
    return {
        "version": "2.0",
        "routeKey": f"{method} /v1/predict",
        "rawPath": "/v1/predict",
        "rawQueryString": "",
        "headers": headers,
        "requestContext": {
            "accountId": "000000000000",
            "apiId": "dlyc4st002",
            "domainName": "dlyc4st002.execute-api.us-east-1.amazonaws.com",
            "http": {
                "method": method,
                "path": "/v1/predict",
                "protocol": "HTTP/1.1",
                "sourceIp": "198.51.100.7",
                "userAgent": "delaycast-tests/1.0",
            },
            "requestId": "http-a41b9e02",
            "routeKey": f"{method} /v1/predict",
            "stage": "$default",
            "timeEpoch": 1_700_000_000_000,
        },
        "body": _body(body, base64_body),
        "isBase64Encoded": base64_body,
    }


def function_url_event(
    body: str | bytes | None,
    *,
    method: str = "POST",
    headers: dict[str, str] | None = None,
    base64_body: bool = False,
) -> dict[str, Any]:
    """A Lambda function URL event (payload 2.0, told apart by its lambda-url domain)."""
    headers = {"content-type": "application/json", "x-forwarded-for": "203.0.113.9"} if headers is None else headers
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": "/",
        "rawQueryString": "",
        "headers": headers,
        "requestContext": {
            "accountId": "anonymous",
            "apiId": "dlyc4st003urlid",
            "domainName": "dlyc4st003urlid.lambda-url.us-east-1.on.aws",
            "domainPrefix": "dlyc4st003urlid",
            "http": {
                "method": method,
                "path": "/",
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.9",
                "userAgent": "delaycast-tests/1.0",
            },
            "requestId": "url-5c2d7e11",
            "routeKey": "$default",
            "stage": "$default",
            "time": "14/Nov/2023:22:13:20 +0000",
            "timeEpoch": 1_700_000_000_000,
        },
        "body": _body(body, base64_body),
        "pathParameters": None,
        "isBase64Encoded": base64_body,
        "stageVariables": None,
    }


def load_balancer_event(
    body: str | bytes | None,
    *,
    method: str = "POST",
    headers: dict[str, str] | None = None,
    base64_body: bool = False,
    multi_value: bool = False,
) -> dict[str, Any]:
    """An Application Load Balancer event; `multi_value`: the target group has multi-value headers on."""
    headers = {"content-type": "application/json", "x-forwarded-for": "192.0.2.77"} if headers is None else headers
    event: dict[str, Any] = {
        "requestContext": {
            "elb": {"targetGroupArn": "arn:aws:elasticloadbalancing:us-east-1:000000000000:targetgroup/dlyc/0a1b2c3d"}
        },
        "httpMethod": method,
        "path": "/predict",
        "body": _body(body, base64_body) or "",
        "isBase64Encoded": base64_body,
    }
    if multi_value:
        return {
            **event,
            "multiValueQueryStringParameters": {},
            "multiValueHeaders": {name: [value] for name, value in headers.items()},
        }
    return {**event, "queryStringParameters": {}, "headers": headers}


def assert_valid_proxy_response(response: object) -> Any:
    """Check the API Gateway / function URL response contract; the parsed JSON body (None for an empty body)."""
    assert isinstance(response, dict), response
    assert set(response) == PROXY_KEYS, response
    return _checked_answer(response, response["headers"])


def assert_valid_load_balancer_response(response: object, *, multi_value: bool) -> Any:
    """Check the load balancer's response contract (multi-value headers or not); the parsed JSON body."""
    assert isinstance(response, dict), response
    headers_key = "multiValueHeaders" if multi_value else "headers"
    assert set(response) == LOAD_BALANCER_KEYS | {headers_key}, response
    status = response["statusCode"]
    assert response["statusDescription"] == f"{status} {HTTPStatus(status).phrase}", response
    headers = response[headers_key]
    if multi_value:
        assert isinstance(headers, dict)
        assert all(isinstance(values, list) and len(values) == 1 for values in headers.values()), headers
        headers = {name: values[0] for name, values in headers.items()}
    return _checked_answer(response, headers)


def _checked_answer(response: dict[str, Any], headers: object) -> Any:
    status, body = response["statusCode"], response["body"]
    assert type(status) is int, status
    assert 200 <= status <= 599, status
    assert isinstance(headers, dict)
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in headers.items())
    assert response["isBase64Encoded"] is False
    assert isinstance(body, str)
    assert headers.get("Access-Control-Allow-Origin"), headers
    assert headers.get("X-Request-Id"), headers
    if status == 204:
        assert body == ""
        return None
    assert headers.get("Content-Type") == "application/json", headers
    document = json.loads(body)
    assert "Traceback" not in body
    if status >= 400:
        assert set(document) == {"error", "detail"}, document
        assert isinstance(document["error"], str)
        assert isinstance(document["detail"], str)
    return document


def sent_line(fields: dict[str, str]) -> str:
    """The CSV line the endpoint must receive for these field values: FIELD_NAMES order, no header."""
    return ",".join(fields[name] for name in FIELD_NAMES)


def endpoint_answer(*probabilities: float, threshold: float = 0.2, version: str = "0.1.0-test") -> dict[str, Any]:
    """An InvokeEndpoint response whose body is what the container's own JSON codec writes."""
    predictions = Predictions(np.array(probabilities, dtype="float64"), threshold, version)
    return raw_answer(JsonCodec().encode(predictions))


def raw_answer(body: bytes) -> dict[str, Any]:
    """An InvokeEndpoint response with this exact body."""
    return {"Body": StreamingBody(io.BytesIO(body), len(body)), "ContentType": "application/json"}
