"""The Lambda behind API Gateway: validates flights in pure Python, scores them on the SageMaker endpoint.

Works behind REST API (payload 1.0) and HTTP API (payload 2.0) Lambda proxy
integrations. Every answer, errors included, is a proxy response with a JSON
body; nothing invalid reaches the endpoint. The deployment package is this file
(Lambda handler `handler.lambda_handler`) plus delaycast/__init__.py,
delaycast/fields.py and delaycast/errors.py: standard library and boto3 only.
"""

# No `from __future__ import annotations` here: dataclasses resolve string annotations through
# sys.modules, which breaks loaders that exec this file without registering it (lambda/ is no package).
import base64
import contextlib
import csv
import functools
import io
import json
import logging
import math
import os
import re
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from http import HTTPStatus
from typing import Any, Protocol, Self, TypeGuard, TypeVar
from urllib.parse import urlsplit

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)

from delaycast.errors import ConfigError, DelaycastError, InvalidInput
from delaycast.fields import FIELD_NAMES, FIELDS, REQUIRED_FIELDS, Field

log = logging.getLogger("delaycast.lambda")
log.setLevel(logging.INFO)  # the Lambda runtime's root logger passes only warnings by default

ALLOWED_METHODS = "OPTIONS, POST"
ALLOWED_HEADERS = "Content-Type, Authorization, X-Api-Key"
RETRY_AFTER_THROTTLED = "1"
RETRY_AFTER_UNAVAILABLE = "5"
LABELS = ("delay", "no delay")
ENDPOINT_NAME_PATTERN = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}")
CODES = {
    "carrier": (re.compile(r"[A-Z0-9]{2}"), "an IATA carrier code"),
    "airport": (re.compile(r"[A-Z]{3}"), "an IATA airport code"),
}
ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
CLOCK_TIME = re.compile(r"([0-9]{1,2}):([0-9]{2})")
JSON_TYPES = {dict: "object", list: "array", bool: "boolean", str: "string", int: "number", float: "number"}

Scalar = str | int | float
Number = TypeVar("Number", int, float)


@dataclass(frozen=True)
class Settings:
    """What the function is told by its environment, read once per container."""

    endpoint_name: str
    region: str | None = None
    runtime_url: str | None = None
    cors_allow_origin: str = "*"
    max_batch: int = 100
    read_timeout_seconds: float = 10.0
    connect_timeout_seconds: float = 2.0
    max_body_bytes: int = 256 * 1024

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Self:
        """Settings from ENDPOINT_NAME (required), AWS_REGION, SAGEMAKER_RUNTIME_URL, CORS_ALLOW_ORIGIN,
        MAX_BATCH and ENDPOINT_TIMEOUT_SECONDS; ConfigError names the bad variable."""
        endpoint = env.get("ENDPOINT_NAME", "").strip()
        if not ENDPOINT_NAME_PATTERN.fullmatch(endpoint):
            raise ConfigError(f"ENDPOINT_NAME must name the SageMaker endpoint to call, got {endpoint!r}")
        url = env.get("SAGEMAKER_RUNTIME_URL") or None
        if url is not None and (urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).netloc):
            raise ConfigError(f"SAGEMAKER_RUNTIME_URL must be an http(s) URL, got {url!r}")
        return cls(
            endpoint_name=endpoint,
            region=env.get("AWS_REGION") or None,
            runtime_url=url,
            cors_allow_origin=env.get("CORS_ALLOW_ORIGIN") or cls.cors_allow_origin,
            max_batch=_env_number(env, "MAX_BATCH", cls.max_batch, 1, 10_000),
            read_timeout_seconds=_env_number(env, "ENDPOINT_TIMEOUT_SECONDS", cls.read_timeout_seconds, 0.1, 120.0),
        )


def _env_number(env: Mapping[str, str], name: str, default: Number, low: Number, high: Number) -> Number:
    text = env.get(name, "").strip()
    if not text:
        return default
    try:
        value = type(default)(text)
    except ValueError:
        raise ConfigError(f"{name} must be a number from {low} to {high}, got {text!r}") from None
    if not low <= value <= high:
        raise ConfigError(f"{name} must be a number from {low} to {high}, got {text!r}")
    return value


class RuntimeClient(Protocol):
    """The part of boto3's sagemaker-runtime client the handler uses."""

    def invoke_endpoint(self, **params: Any) -> Mapping[str, Any]:
        """Call InvokeEndpoint."""
        ...


def make_client(settings: Settings) -> RuntimeClient:
    """A sagemaker-runtime client: short connect and bounded read timeouts, two attempts in all."""
    config = Config(
        connect_timeout=settings.connect_timeout_seconds,
        read_timeout=settings.read_timeout_seconds,
        retries={"total_max_attempts": 2, "mode": "standard"},  # botocore's "max_attempts" would not count the first
    )
    client: RuntimeClient = boto3.client(
        "sagemaker-runtime", region_name=settings.region, endpoint_url=settings.runtime_url, config=config
    )
    return client


class ApiError(DelaycastError):
    """A failure answered with its own status and extra headers; the endpoint's error code and cause go to the log."""

    def __init__(
        self,
        status: HTTPStatus,
        detail: str,
        headers: Mapping[str, str] | None = None,
        endpoint_error: str | None = None,
        cause: str | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.title = status.phrase.lower()
        self.headers = dict(headers or {})
        self.endpoint_error = endpoint_error
        self.cause = cause


class MalformedAnswer(ApiError):
    """An endpoint answer that is not the container's JSON, or has the wrong number of predictions."""

    def __init__(self) -> None:
        super().__init__(HTTPStatus.BAD_GATEWAY, "the model answered in an unexpected format", None, "MalformedAnswer")


# --- the event -------------------------------------------------------------------------------------------


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def event_method(event: Mapping[str, Any]) -> str:
    """The HTTP method of a payload 1.0 or 2.0 event, upper-case."""
    if event.get("version") == "2.0":
        method = _mapping(_mapping(event.get("requestContext")).get("http")).get("method")
    else:
        method = event.get("httpMethod")
    return str(method or "").upper()


def event_headers(event: Mapping[str, Any]) -> dict[str, str]:
    """The request headers with lower-case names; `headers` wins over payload 1.0's `multiValueHeaders`."""
    headers = {}
    for name, values in _mapping(event.get("multiValueHeaders")).items():
        if isinstance(values, list):
            headers[str(name).lower()] = ", ".join(str(value) for value in values)
    for name, value in _mapping(event.get("headers")).items():
        if value is not None:
            headers[str(name).lower()] = str(value)
    return headers


def event_body(event: Mapping[str, Any], limit: int) -> bytes:
    """The body's bytes, base64-decoded when the event says so; 413 above `limit` bytes."""
    body = event.get("body") or ""
    if not isinstance(body, str):
        raise InvalidInput("the event body is not text")
    if event.get("isBase64Encoded"):
        try:
            data = base64.b64decode(body, validate=True)
        except ValueError:  # binascii.Error, or a ValueError for non-ASCII text
            raise InvalidInput("the body is marked base64-encoded but is not valid base64") from None
    else:
        data = body.encode("utf-8", "surrogatepass")
    if len(data) > limit:
        raise ApiError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"the body is {len(data)} bytes; the limit is {limit}")
    return data


def _request_id(event: object, context: object) -> str:
    request_id = getattr(context, "aws_request_id", None)
    if not request_id and isinstance(event, Mapping):
        request_id = _mapping(event.get("requestContext")).get("requestId")
    return str(request_id or uuid.uuid4())


# --- the flights -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Flights:
    """Flight records as sent (still raw), and how messages name them."""

    records: list[Any]
    name: str  # "flights" for JSON, "rows" for CSV
    single: bool  # one JSON object rather than a list

    def error(self, index: int, field: str | None, reason: str) -> InvalidInput:
        """A 400 naming the record (0-based, in a list) and the field."""
        if self.single:
            return InvalidInput(f"{field}: {reason}" if field else reason)
        where = f"{self.name}[{index}]" + (f".{field}" if field else "")
        return InvalidInput(f"{where}: {reason} ({self.name} are numbered from 0)")


def parse_flights(body: bytes, content_type: str, max_batch: int) -> Flights:
    """Flights from a JSON (object or list) or headerless CSV body; 400/415 when they cannot be read."""
    media_type = content_type.split(";")[0].strip().lower() or "application/json"
    if media_type not in ("application/json", "text/csv"):
        raise ApiError(
            HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
            f"Content-Type {media_type!r} is not supported; send application/json or text/csv",
        )
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise InvalidInput(f"the body is not valid UTF-8 text (byte {error.start})") from None
    if not text.strip():
        raise InvalidInput("the body is empty; send a flight object, a list of them, or CSV rows")
    flights = _csv_flights(text) if media_type == "text/csv" else _json_flights(text)
    if not flights.records:
        raise InvalidInput("the list of flights is empty")
    if len(flights.records) > max_batch:
        raise InvalidInput(f"{len(flights.records)} flights in one request; the limit is {max_batch}")
    return flights


def _json_flights(text: str) -> Flights:
    try:
        document = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as error:
        where = f"line {error.lineno} column {error.colno}"
        raise InvalidInput(f"the body is not valid JSON: {error.msg} at {where}") from None
    except (ValueError, RecursionError):
        raise InvalidInput("the body is JSON this service cannot read (a number too long or too deep)") from None
    if isinstance(document, dict):
        return Flights([document], "flights", single=True)
    if isinstance(document, list):
        return Flights(document, "flights", single=False)
    raise InvalidInput(f"the body must be a flight object or a list of them, not a JSON {_json_type(document)}")


def _reject_constant(name: str) -> None:
    raise InvalidInput(f"the body is not valid JSON: {name} is not a JSON number")


def _csv_flights(text: str) -> Flights:
    try:
        rows = [
            row for row in csv.reader(io.StringIO(text, newline=""), strict=True) if any(cell.strip() for cell in row)
        ]
    except csv.Error as error:
        raise InvalidInput(f"the body is not valid CSV: {error}") from None
    order = ",".join(FIELD_NAMES)
    if rows and rows[0][0].strip().lower() == FIELD_NAMES[0]:
        raise InvalidInput(f"send CSV rows without a header, fields in this order: {order}")
    flights = Flights([dict(zip(FIELD_NAMES, row, strict=False)) for row in rows], "rows", single=False)
    low, high = len(REQUIRED_FIELDS), len(FIELD_NAMES)
    for index, row in enumerate(rows):
        if not low <= len(row) <= high:
            raise flights.error(index, None, f"{len(row)} fields; send {low} to {high} in this order: {order}")
    return flights


def csv_lines(flights: Flights) -> list[str]:
    """One validated CSV line per flight, in FIELD_NAMES order; 400 for the first bad record or field."""
    return [_csv_line(flights, index, record) for index, record in enumerate(flights.records)]


def _csv_line(flights: Flights, index: int, record: object) -> str:
    if not isinstance(record, dict):
        raise flights.error(index, None, f"expected a flight object, got JSON {_json_type(record)}")
    unknown = [name for name in record if name not in FIELD_NAMES]
    if unknown:
        raise flights.error(index, None, f"unknown field {_shown(unknown[0])}; the fields are {', '.join(FIELD_NAMES)}")
    missing = [name for name in REQUIRED_FIELDS if _absent(record.get(name))]
    if missing:
        raise flights.error(index, None, f"missing required field(s): {', '.join(missing)}")
    cells = []
    for spec in FIELDS:
        value = record.get(spec.name)
        try:
            cells.append("" if _absent(value) else _clean(value, spec))
        except InvalidInput as error:
            raise flights.error(index, spec.name, error.detail) from None
    return ",".join(cells)


def _absent(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _clean(value: object, spec: Field) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise InvalidInput(f"expected a string or number, got JSON {_json_type(value)}")
    return CLEANERS[spec.kind](value, spec)


def _code(value: Scalar, spec: Field) -> str:
    pattern, what = CODES[spec.kind]
    text = value.strip().upper() if isinstance(value, str) else ""
    if not pattern.fullmatch(text):
        raise InvalidInput(f"{_shown(value)} is not {what}")
    return text


def _date(value: Scalar, spec: Field) -> str:
    text = value.strip() if isinstance(value, str) else ""
    if ISO_DATE.fullmatch(text):
        with contextlib.suppress(ValueError):
            return date.fromisoformat(text).isoformat()
    raise InvalidInput(f"{_shown(value)} is not a date YYYY-MM-DD")


def _clock(value: Scalar, spec: Field) -> str:
    bad = InvalidInput(f"{_shown(value)} is not a time HH:MM or HHMM (00:00 to 24:00)")
    match = CLOCK_TIME.fullmatch(value.strip()) if isinstance(value, str) else None
    try:
        hours, minutes = (int(match[1]), int(match[2])) if match else divmod(_whole(value), 100)
    except InvalidInput:
        raise bad from None
    if not (0 <= hours <= 23 and minutes <= 59) and (hours, minutes) != (24, 0):
        raise bad
    return f"{hours:02d}{minutes:02d}"


def _integer(value: Scalar, spec: Field) -> str:
    return str(_in_range(_whole(value), spec))


def _decimal(value: Scalar, spec: Field) -> str:
    return repr(_in_range(_number(value), spec))


def _number(value: Scalar) -> float:
    try:
        number = float(value)
    except (ValueError, OverflowError):
        raise InvalidInput(f"{_shown(value)} is not a number") from None
    if not math.isfinite(number):
        raise InvalidInput(f"{_shown(value)} is not a finite number")
    return number


def _whole(value: Scalar) -> int:
    number = _number(value)
    if not number.is_integer():
        raise InvalidInput(f"{_shown(value)} is not a whole number")
    return int(number)


def _in_range(number: Number, spec: Field) -> Number:
    low = -math.inf if spec.low is None else spec.low
    high = math.inf if spec.high is None else spec.high
    if not low <= number <= high:
        raise InvalidInput(f"{number:g} is outside {low:g}..{high:g}")
    return number


CLEANERS: dict[str, Callable[[Scalar, Field], str]] = {
    "carrier": _code,
    "airport": _code,
    "date": _date,
    "hhmm": _clock,
    "int": _integer,
    "float": _decimal,
}


def _json_type(value: object) -> str:
    return "null" if value is None else JSON_TYPES.get(type(value), type(value).__name__)


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:36] + "...'"


# --- the endpoint ----------------------------------------------------------------------------------------


def endpoint_failure(error: ClientError) -> ApiError:
    """The answer to an InvokeEndpoint error: the caller learns what to do, never the internals."""
    code = str(error.response.get("Error", {}).get("Code") or "ClientError")
    if code == "ModelError":
        return _model_error(error.response)
    if code == "ThrottlingException":
        headers = {"Retry-After": RETRY_AFTER_THROTTLED}
        return ApiError(HTTPStatus.TOO_MANY_REQUESTS, "too many requests to the model; retry shortly", headers, code)
    if code in ("ModelNotReadyException", "ServiceUnavailable"):
        headers = {"Retry-After": RETRY_AFTER_UNAVAILABLE}
        return ApiError(HTTPStatus.SERVICE_UNAVAILABLE, "the model is not ready; retry shortly", headers, code)
    cause = str(error.response.get("Error", {}).get("Message", ""))[:300]  # AWS's words, never the payload
    return ApiError(HTTPStatus.INTERNAL_SERVER_ERROR, "the service failed on this request", None, code, cause)


def _model_error(response: Mapping[str, Any]) -> ApiError:
    status = response.get("OriginalStatusCode")
    if not (isinstance(status, int) and 400 <= status < 500):
        return ApiError(HTTPStatus.BAD_GATEWAY, "the model failed on this request", None, "ModelError")
    try:
        document = json.loads(response.get("OriginalMessage") or "")
    except (ValueError, RecursionError):
        document = None
    detail = document.get("detail") if isinstance(document, dict) else None
    reason = detail[:500] if isinstance(detail, str) and detail else f"status {status}"
    return ApiError(HTTPStatus.BAD_GATEWAY, f"the model refused the flights: {reason}", None, "ModelError")


def parse_answer(raw: bytes, count: int) -> list[dict[str, Any]]:
    """The container's JSON answer as one result per flight; MalformedAnswer (502) for anything else."""
    try:
        document = json.loads(raw)
    except (ValueError, RecursionError):
        raise MalformedAnswer() from None
    predictions = document.get("predictions") if isinstance(document, dict) else None
    version = document.get("model_version") if isinstance(document, dict) else None
    if not isinstance(predictions, list) or len(predictions) != count or not isinstance(version, str):
        raise MalformedAnswer()
    return [_result(item, version) for item in predictions]


def _result(item: object, version: str) -> dict[str, Any]:
    if not isinstance(item, dict) or item.get("prediction") not in LABELS:
        raise MalformedAnswer()
    probability, threshold = item.get("probability"), item.get("threshold")
    if _is_share(probability) and _is_share(threshold):
        return {
            "prediction": item["prediction"],
            "probability": float(probability),
            "threshold": float(threshold),
            "model_version": version,
        }
    raise MalformedAnswer()


def _is_share(value: object) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value <= 1


# --- the handler -----------------------------------------------------------------------------------------


@dataclass
class _Trace:
    request_id: str
    started: float
    method: str = ""
    records: int = 0
    error: str | None = None
    endpoint_error: str | None = None
    cause: str | None = None


class Handler:
    """Answers API Gateway proxy events by scoring flights on the SageMaker endpoint."""

    def __init__(self, settings: Settings, client: RuntimeClient | None = None) -> None:
        self.settings = settings
        self.client = client if client is not None else make_client(settings)

    def handle(self, event: object, context: object) -> dict[str, Any]:
        """Answer one event with a proxy response; never raises."""
        trace = _Trace(_request_id(event, context), time.perf_counter())
        try:
            response = self._answer(event, trace)
        except DelaycastError as error:
            response = self._failure(error, trace)
        except Exception:
            log.exception(json.dumps({"message": "unexpected failure", "request_id": trace.request_id}))
            unexpected = ApiError(HTTPStatus.INTERNAL_SERVER_ERROR, "the service failed on this request")
            response = self._failure(unexpected, trace)
        _log_request(trace, response["statusCode"])
        return response

    def _answer(self, event: object, trace: _Trace) -> dict[str, Any]:
        if not isinstance(event, Mapping):  # a direct invocation can send any JSON value
            raise InvalidInput("the event is not an API Gateway proxy event (a JSON object)")
        trace.method = event_method(event)
        if trace.method == "OPTIONS":
            preflight = {
                "Access-Control-Allow-Methods": ALLOWED_METHODS,
                "Access-Control-Allow-Headers": ALLOWED_HEADERS,
                "Access-Control-Max-Age": "600",
            }
            return self._response(HTTPStatus.NO_CONTENT, None, trace, preflight)
        if trace.method != "POST":
            detail = f"{trace.method or 'this method'} is not supported; POST flights to score them"
            raise ApiError(HTTPStatus.METHOD_NOT_ALLOWED, detail, {"Allow": ALLOWED_METHODS})
        body = event_body(event, self.settings.max_body_bytes)
        flights = parse_flights(body, event_headers(event).get("content-type", ""), self.settings.max_batch)
        trace.records = len(flights.records)
        results = self._score(csv_lines(flights))
        return self._response(HTTPStatus.OK, results[0] if flights.single else results, trace)

    def _score(self, lines: list[str]) -> list[dict[str, Any]]:
        try:
            answer = self.client.invoke_endpoint(
                EndpointName=self.settings.endpoint_name,
                ContentType="text/csv",
                Accept="application/json",
                Body="".join(line + "\n" for line in lines).encode(),
            )
            raw = answer["Body"].read()
        except ClientError as error:
            raise endpoint_failure(error) from None
        except (ReadTimeoutError, ConnectTimeoutError) as error:
            detail = "the model did not answer in time"
            raise ApiError(HTTPStatus.GATEWAY_TIMEOUT, detail, None, type(error).__name__) from None
        except EndpointConnectionError as error:
            detail = "the model endpoint cannot be reached; retry shortly"
            headers = {"Retry-After": RETRY_AFTER_UNAVAILABLE}
            raise ApiError(HTTPStatus.SERVICE_UNAVAILABLE, detail, headers, type(error).__name__) from None
        return parse_answer(raw, len(lines))

    def _failure(self, error: DelaycastError, trace: _Trace) -> dict[str, Any]:
        trace.error = error.title
        detail = error.detail
        if error.status >= HTTPStatus.INTERNAL_SERVER_ERROR:
            detail += f" (request id {trace.request_id})"
        headers: Mapping[str, str] = {}
        if isinstance(error, ApiError):
            trace.endpoint_error, trace.cause = error.endpoint_error, error.cause
            headers = error.headers
        return self._response(error.status, {"error": error.title, "detail": detail}, trace, headers)

    def _response(
        self, status: HTTPStatus, body: object, trace: _Trace, headers: Mapping[str, str] | None = None
    ) -> dict[str, Any]:
        base = {"Access-Control-Allow-Origin": self.settings.cors_allow_origin, "X-Request-Id": trace.request_id}
        return proxy_response(status, body, {**base, **(headers or {})})


def proxy_response(status: HTTPStatus, body: object, headers: Mapping[str, str]) -> dict[str, Any]:
    """An API Gateway proxy response; `body` is sent as JSON, or empty when None."""
    all_headers = dict(headers)
    if body is not None:
        all_headers["Content-Type"] = "application/json"
    text = "" if body is None else json.dumps(body)
    return {"statusCode": int(status), "headers": all_headers, "body": text, "isBase64Encoded": False}


def _log_request(trace: _Trace, status: int) -> None:
    entry = {
        "message": "request",
        "request_id": trace.request_id,
        "method": trace.method,
        "status": status,
        "records": trace.records,
        "ms": round((time.perf_counter() - trace.started) * 1000, 1),
        "error": trace.error,
        "endpoint_error": trace.endpoint_error,
        "cause": trace.cause,
    }
    level = logging.ERROR if status >= HTTPStatus.INTERNAL_SERVER_ERROR else logging.INFO
    log.log(level, json.dumps({key: value for key, value in entry.items() if value is not None}))


@dataclass(frozen=True)
class Misconfigured:
    """Stands in for the Handler when the settings are unusable: every call is a 500 and a log line saying why."""

    reason: str
    cors_allow_origin: str

    def handle(self, event: object, context: object) -> dict[str, Any]:
        """Answer 500, naming the request id; log the reason."""
        request_id = _request_id(event, context)
        entry = {"message": "misconfigured", "reason": self.reason, "request_id": request_id, "status": 500}
        log.error(json.dumps(entry))
        body = {"error": "internal server error", "detail": f"the service is misconfigured (request id {request_id})"}
        headers = {"Access-Control-Allow-Origin": self.cors_allow_origin, "X-Request-Id": request_id}
        return proxy_response(HTTPStatus.INTERNAL_SERVER_ERROR, body, headers)


@functools.cache
def container_handler() -> Handler | Misconfigured:
    """This container's handler: settings and client built from the environment on first use, then reused."""
    try:
        return Handler(Settings.from_env(os.environ))
    except (ConfigError, BotoCoreError) as error:
        return Misconfigured(str(error), os.environ.get("CORS_ALLOW_ORIGIN") or "*")


def lambda_handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    """The Lambda entry point."""
    return container_handler().handle(event, context)
