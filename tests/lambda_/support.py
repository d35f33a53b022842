"""Loading the handler from its file, API Gateway events in both payload formats, and the proxy-response check."""

from __future__ import annotations

import base64
import importlib.util
import io
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
from botocore.response import StreamingBody

from delaycast.fields import FIELD_NAMES
from serve.codecs import JsonCodec, Predictions

ROOT = Path(__file__).resolve().parents[2]
HANDLER_PATH = ROOT / "lambda" / "handler.py"
PROXY_KEYS = {"statusCode", "headers", "body", "isBase64Encoded"}

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
}


def load_handler_module(name: str = "delaycast_lambda_handler") -> ModuleType:
    """lambda/handler.py as a fresh module (`lambda` is a keyword, so it cannot be imported by package)."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    spec = importlib.util.spec_from_file_location(name, HANDLER_PATH)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


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


def assert_valid_proxy_response(response: object) -> Any:
    """Check the Lambda proxy response contract and return the parsed JSON body (None for an empty body)."""
    assert isinstance(response, dict), response
    assert set(response) == PROXY_KEYS, response
    status, headers, body = response["statusCode"], response["headers"], response["body"]
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
