"""The Lambda entry point, `lambda_handler`: one Handler a container, built from the environment on first use.

Every answer, errors included, is a response in the event source's shape with a JSON body (or none, for a
preflight); nothing invalid reaches the endpoint.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from botocore.exceptions import BotoCoreError

from delaycast.errors import ConfigError, DelaycastError
from delaycast_api.answers import Answer, ApiError, Trace, failure_document, json_answer, log, log_request
from delaycast_api.endpoint import RuntimeClient, make_client
from delaycast_api.events import PROXY_REPLY, Request, read_event, reply_for, request_id
from delaycast_api.flight_store import FlightStore, StoreClient, make_store_client
from delaycast_api.flights import ShortRequest, read_flights
from delaycast_api.predictions import Predictor, utc_now
from delaycast_api.settings import Settings

ALLOWED_METHODS = "OPTIONS, POST"
PREFLIGHT_HEADERS = {
    "Access-Control-Allow-Methods": ALLOWED_METHODS,
    "Access-Control-Allow-Headers": "Content-Type, Authorization, X-Api-Key",
    "Access-Control-Max-Age": "600",
}


class Handler:
    """Answers HTTP request events by scoring their flights on the SageMaker endpoint, with the flight store's
    schedule and context when DELAYCAST_FLIGHT_TABLE names one."""

    def __init__(
        self,
        settings: Settings,
        client: RuntimeClient | None = None,
        store_client: StoreClient | None = None,
        now: Callable[[], dt.datetime] = utc_now,
    ) -> None:
        self.settings = settings
        self.client = client if client is not None else make_client(settings)
        store = None
        if settings.flight_table is not None:
            store_client = store_client if store_client is not None else make_store_client(settings)
            store = FlightStore(store_client, settings.flight_table)
        self.predictor = Predictor(self.client, settings.endpoint_name, store, now)

    def handle(self, event: object, context: object) -> dict[str, Any]:
        """Answer one event in its source's response shape; never raises."""
        trace = Trace(request_id(event, context), time.perf_counter())
        reply = PROXY_REPLY
        try:
            request = read_event(event)
            reply = request.reply
            answer = self._answer(request, trace)
        except DelaycastError as error:
            answer = self._failure(error, trace)
        except Exception:
            log.exception(json.dumps({"message": "unexpected failure", "request_id": trace.request_id}))
            answer = self._failure(
                ApiError(HTTPStatus.INTERNAL_SERVER_ERROR, "the service failed on this request"), trace
            )
        log_request(trace, answer.status)
        return reply.response(answer)

    def _answer(self, request: Request, trace: Trace) -> Answer:
        trace.event, trace.method = request.source, request.method
        if request.method == "OPTIONS":
            return self._json(HTTPStatus.NO_CONTENT, None, trace, PREFLIGHT_HEADERS)
        if request.method != "POST":
            detail = f"{request.method} is not supported; POST flights to score them"
            raise ApiError(HTTPStatus.METHOD_NOT_ALLOWED, detail, {"Allow": ALLOWED_METHODS})
        body = request.body(self.settings.max_body_bytes)
        flights = read_flights(body, request.headers.get("content-type", ""), self.settings.max_batch)
        if isinstance(flights, ShortRequest):
            scored = self.predictor.short_form(flights.document)
        else:
            scored = self.predictor.full_records(flights)
        trace.records = scored.records
        if scored.store_failure is not None:
            trace.upstream_failed(scored.store_failure)
        return self._json(HTTPStatus.OK, scored.document, trace)

    def _failure(self, error: DelaycastError, trace: Trace) -> Answer:
        trace.failed(error)
        headers = error.headers if isinstance(error, ApiError) else None
        return self._json(error.status, failure_document(error, trace.request_id), trace, headers)

    def _json(
        self, status: HTTPStatus, document: object, trace: Trace, headers: dict[str, str] | None = None
    ) -> Answer:
        return json_answer(status, document, self.settings.cors_allow_origin, trace.request_id, headers)


@dataclass(frozen=True)
class Misconfigured:
    """Stands in for the Handler when the settings are unusable: every call is a 500 and a log line saying why."""

    reason: str
    cors_allow_origin: str

    def handle(self, event: object, context: object) -> dict[str, Any]:
        """Answer 500, naming the request id; log the reason."""
        found = request_id(event, context)
        log.error(json.dumps({"message": "misconfigured", "reason": self.reason, "request_id": found, "status": 500}))
        error = ApiError(HTTPStatus.INTERNAL_SERVER_ERROR, "the service is misconfigured")
        answer = json_answer(error.status, failure_document(error, found), self.cors_allow_origin, found)
        return reply_for(event).response(answer)


@functools.cache
def container_handler() -> Handler | Misconfigured:
    """This container's handler: settings and client built from the environment on first use, then reused."""
    try:
        return Handler(Settings.from_env(os.environ))
    except (ConfigError, BotoCoreError) as error:
        return Misconfigured(str(error), os.environ.get("CORS_ALLOW_ORIGIN") or "*")


def lambda_handler(event: object, context: object) -> dict[str, Any]:
    """The Lambda entry point."""
    return container_handler().handle(event, context)
