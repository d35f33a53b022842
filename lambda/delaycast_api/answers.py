"""What the function answers, whatever shape the event has: a status, headers and a JSON body; one log line a request.

Failures are `{"error": <the status's phrase>, "detail": <what to do>}`; a 5xx names the request id, and
what went wrong inside (the endpoint's error code, AWS's message) goes to the log only.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from http import HTTPStatus

from delaycast.errors import DelaycastError

log = logging.getLogger("delaycast.lambda")
log.setLevel(logging.INFO)  # the Lambda runtime's root logger passes only warnings by default


class ApiError(DelaycastError):
    """A failure answered with its own status and extra headers; the error code of the service behind (`upstream`:
    the endpoint, or the flight store) and the cause go to the log."""

    upstream = "endpoint"

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


@dataclass(frozen=True)
class Answer:
    """A response before it is put in the event source's shape."""

    status: HTTPStatus
    headers: dict[str, str]
    body: str


def json_answer(
    status: HTTPStatus, document: object, cors_origin: str, request_id: str, headers: Mapping[str, str] | None = None
) -> Answer:
    """`document` as JSON, or an empty body when None; every answer names the CORS origin and the request id."""
    all_headers = {"Access-Control-Allow-Origin": cors_origin, "X-Request-Id": request_id, **(headers or {})}
    if document is None:
        return Answer(status, all_headers, "")
    return Answer(status, {**all_headers, "Content-Type": "application/json"}, json.dumps(document))


def failure_document(error: DelaycastError, request_id: str) -> dict[str, str]:
    """The body of a failure; a 5xx's detail names the request id to quote."""
    detail = error.detail
    if error.status >= HTTPStatus.INTERNAL_SERVER_ERROR:
        detail += f" (request id {request_id})"
    return {"error": error.title, "detail": detail}


@dataclass
class Trace:
    """What the log line of one request says; never the flights themselves."""

    request_id: str
    started: float
    event: str | None = None
    method: str | None = None
    records: int = 0
    error: str | None = None
    endpoint_error: str | None = None
    store_error: str | None = None
    cause: str | None = None

    def failed(self, error: DelaycastError) -> None:
        """Note the failure answered."""
        self.error = error.title
        if isinstance(error, ApiError):
            self.upstream_failed(error)

    def upstream_failed(self, error: ApiError) -> None:
        """Note the error code and cause of the service behind, whether or not the request failed for it."""
        if error.upstream == "store":
            self.store_error = error.endpoint_error
        else:
            self.endpoint_error = error.endpoint_error
        self.cause = error.cause


def log_request(trace: Trace, status: int) -> None:
    """One JSON line a request: INFO, or ERROR for a 5xx."""
    entry = {
        "message": "request",
        "request_id": trace.request_id,
        "event": trace.event,
        "method": trace.method,
        "status": status,
        "records": trace.records,
        "ms": round((time.perf_counter() - trace.started) * 1000, 1),
        "error": trace.error,
        "endpoint_error": trace.endpoint_error,
        "store_error": trace.store_error,
        "cause": trace.cause,
    }
    level = logging.ERROR if status >= HTTPStatus.INTERNAL_SERVER_ERROR else logging.INFO
    log.log(level, json.dumps({key: value for key, value in entry.items() if value is not None}))
