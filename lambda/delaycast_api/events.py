"""The events the function takes, read into one `Request`, and the response shape each of them wants.

- API Gateway REST API, proxy integration (payload 1.0; also an HTTP API set to payload 1.0): `httpMethod`,
  `headers` and `multiValueHeaders`, `requestContext.requestId`.
- API Gateway HTTP API (payload 2.0): `version` "2.0", `requestContext.http.method`, `headers`.
- Lambda function URL: payload 2.0 too, from a `requestContext.domainName` `<id>.lambda-url.<region>.on.aws`.
- Application Load Balancer: `httpMethod` and `requestContext.elb`; `headers`, or only `multiValueHeaders`
  when the target group has multi-value headers on, and then the response must carry `multiValueHeaders`.

Each answers {statusCode, headers, body, isBase64Encoded}; the load balancer also wants `statusDescription`.
Anything else (the console's `{}`, SQS, S3 or EventBridge records, a VPC Lattice event, a JSON value that is no
object) is no HTTP request: `UnknownEvent`, a 400.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from http import HTTPStatus
from typing import Any

from delaycast.errors import InvalidInput
from delaycast.fields import json_type
from delaycast_api.answers import Answer, ApiError

EVENTS_TAKEN = (
    "this function takes API Gateway REST API (payload 1.0) and HTTP API (payload 2.0) proxy events, "
    "Application Load Balancer events and Lambda function URL events"
)


class Source(StrEnum):
    """Where an event comes from, as the log names it."""

    REST_API = "rest-api"
    HTTP_API = "http-api"
    FUNCTION_URL = "function-url"
    LOAD_BALANCER = "load-balancer"


class UnknownEvent(InvalidInput):
    """An event of none of the shapes the function takes."""

    def __init__(self, what: str) -> None:
        super().__init__(f"{what}; {EVENTS_TAKEN}")


@dataclass(frozen=True)
class Reply:
    """How a response is put for the event's source."""

    load_balancer: bool = False
    multi_value: bool = False  # a load balancer with multi-value headers on

    def response(self, answer: Answer) -> dict[str, Any]:
        """The Lambda's return value for this answer."""
        response: dict[str, Any] = {"statusCode": int(answer.status)}
        if self.load_balancer:
            response["statusDescription"] = f"{answer.status.value} {answer.status.phrase}"
        if self.multi_value:
            response["multiValueHeaders"] = {name: [value] for name, value in answer.headers.items()}
        else:
            response["headers"] = answer.headers
        return {**response, "body": answer.body, "isBase64Encoded": False}


PROXY_REPLY = Reply()


@dataclass(frozen=True)
class Request:
    """An HTTP request as any of the sources puts it."""

    source: Source
    method: str  # upper-case
    headers: dict[str, str]  # names in lower case
    event: Mapping[str, Any]
    reply: Reply

    def body(self, limit: int) -> bytes:
        """The body's bytes, base64-decoded when the event says so; 413 above `limit` bytes."""
        body = self.event.get("body") or ""
        if not isinstance(body, str):
            raise InvalidInput("the event body is not text")
        if self.event.get("isBase64Encoded"):
            try:
                data = base64.b64decode(body, validate=True)
            except ValueError:  # binascii.Error, or a ValueError for non-ASCII text
                raise InvalidInput("the body is marked base64-encoded but is not valid base64") from None
        else:
            data = body.encode("utf-8", "surrogatepass")
        if len(data) > limit:
            raise ApiError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"the body is {len(data)} bytes; the limit is {limit}")
        return data


def read_event(event: object) -> Request:
    """The request an event carries; UnknownEvent when it is of no shape the function takes."""
    if not isinstance(event, Mapping):
        raise UnknownEvent(f"the event is a JSON {json_type(event)}, not an object")
    found = _method_and_source(event)
    if found is None:
        raise UnknownEvent("the event is no HTTP request (no httpMethod, nor version 2.0's requestContext.http.method)")
    method, source = found
    reply = PROXY_REPLY
    if source is Source.LOAD_BALANCER:
        reply = Reply(load_balancer=True, multi_value=isinstance(event.get("multiValueHeaders"), Mapping))
    return Request(source, method.upper(), _headers(event), event, reply)


def _method_and_source(event: Mapping[str, Any]) -> tuple[str, Source] | None:
    context = _mapping(event.get("requestContext"))
    if event.get("version") == "2.0":
        method = _mapping(context.get("http")).get("method")
        domain = context.get("domainName")
        source = Source.FUNCTION_URL if isinstance(domain, str) and ".lambda-url." in domain else Source.HTTP_API
    elif event.get("version", "1.0") == "1.0":
        method = event.get("httpMethod")
        source = Source.LOAD_BALANCER if isinstance(context.get("elb"), Mapping) else Source.REST_API
    else:
        return None
    return (method, source) if isinstance(method, str) and method else None


def reply_for(event: object) -> Reply:
    """The response shape an event wants; the API Gateway one for an event of no known shape."""
    try:
        return read_event(event).reply
    except UnknownEvent:
        return PROXY_REPLY


def request_id(event: object, context: object) -> str:
    """The Lambda request id, else the one API Gateway gave the event, else a new one."""
    found = getattr(context, "aws_request_id", None)
    if not found and isinstance(event, Mapping):
        found = _mapping(event.get("requestContext")).get("requestId")
    return str(found or uuid.uuid4())


def _headers(event: Mapping[str, Any]) -> dict[str, str]:
    """The request headers with lower-case names; `headers` wins over `multiValueHeaders`."""
    headers = {}
    for name, values in _mapping(event.get("multiValueHeaders")).items():
        if isinstance(values, list):
            headers[str(name).lower()] = ", ".join(str(value) for value in values)
    for name, value in _mapping(event.get("headers")).items():
        if value is not None:
            headers[str(name).lower()] = str(value)
    return headers


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}
