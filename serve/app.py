"""The HTTP layer: SageMaker's /ping, /invocations and /execution-parameters on Flask, and /openapi.json.

It maps requests to codecs and the runtime, and every failure to a JSON body
`{"error": ..., "detail": ...}` with its status; never a traceback. A WSGI
middleware gives every response its request id and the caller's custom
attributes, and logs it when due.
"""

from __future__ import annotations

import itertools
import logging
import os
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from contextlib import nullcontext
from functools import lru_cache, partial
from http import HTTPStatus
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge
from werkzeug.utils import get_content_type
from werkzeug.wsgi import get_content_length

from delaycast.errors import DelaycastError
from serve.codecs import CODECS, codec_named, request_codec, response_codec
from serve.errors import BadRequest
from serve.runtime import ModelRuntime
from serve.settings import ServerSettings

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

log = logging.getLogger("delaycast.serve")
CUSTOM_ATTRIBUTES = "X-Amzn-SageMaker-Custom-Attributes"
INFERENCE_ID = "X-Amzn-SageMaker-Inference-Id"
MODEL_VERSION = "X-Delaycast-Model-Version"
BAD_RECORDS = "X-Delaycast-Bad-Records"  # how many records an answer holds as refused (DELAYCAST_BAD_RECORDS=report)
REQUEST_ID = "X-Request-Id"
CUSTOM_ATTRIBUTES_LIMIT = 1024
# The same headers as WSGI environ keys, read without building a Headers view per lookup.
CUSTOM_ATTRIBUTES_KEY = "HTTP_X_AMZN_SAGEMAKER_CUSTOM_ATTRIBUTES"
INFERENCE_ID_KEY = "HTTP_X_AMZN_SAGEMAKER_INFERENCE_ID"
REQUEST_ID_KEY = "delaycast.request_id"  # this request's id: the caller's inference id, else a new one
STARTED_KEY, RECORDS_KEY = "delaycast.started", "delaycast.records"  # for its log line
OPENAPI_DOCUMENT = Path(__file__).with_name("openapi.json")
UNREADABLE_BODY = (
    "the request body could not be read (malformed chunked encoding, cut short, or not sent within "
    "DELAYCAST_READ_TIMEOUT)"
)
CONTENT_TYPES = {media_type: get_content_type(media_type, "utf-8") for media_type in CODECS}  # as Flask writes them

# A body this large is scored in the worker's one bulk lane: its long stretches of native code, holding the
# interpreter lock, then never stack up behind each other in front of /ping (and one intermediate at a time is held).
BULK_BYTES = 256 * 1024


def create_app(runtime: ModelRuntime, settings: ServerSettings) -> Flask:
    """A Flask app serving `runtime` under `settings`."""
    app = Flask("delaycast")
    app.config["MAX_CONTENT_LENGTH"] = settings.max_payload_bytes
    execution_parameters = {
        "MaxConcurrentTransforms": settings.max_concurrent_transforms,
        "BatchStrategy": "MULTI_RECORD",
        "MaxPayloadInMB": max(1, int(settings.max_payload_mb)),
    }
    openapi = OPENAPI_DOCUMENT.read_bytes()
    default_answer = codec_named(settings.default_accept)
    assert default_answer is not None  # ServerSettings checks it
    # Clients repeat a few Accept headers: each is ranked once.
    answer_codec = lru_cache(maxsize=256)(partial(response_codec, default=default_answer))
    report = settings.report_bad_records
    bulk_lane = threading.Lock()  # one large body decoded, scored and encoded at a time in this worker

    @app.get("/ping")
    def ping() -> Response:
        """200 when this worker scores a known record, else a 500 (its log line says why)."""
        if not runtime.healthy():
            raise DelaycastError("the model scored the health-check record outside 0..1")
        return Response(status=HTTPStatus.OK)

    @app.get("/execution-parameters")
    def execution() -> Response:
        return jsonify(execution_parameters)

    @app.get("/openapi.json")
    def openapi_document() -> Response:
        return Response(openapi, mimetype="application/json")

    @app.post("/invocations")
    def invocations() -> Response:
        environ = request.environ
        answer = answer_codec(environ.get("HTTP_ACCEPT"))
        codec, charset = request_codec(environ.get("CONTENT_TYPE"))
        body = read_body(environ, settings.max_payload_bytes)
        with bulk_lane if len(body) >= BULK_BYTES else nullcontext():
            record = codec.decode_record(body, charset)
            if record is None:
                predictions = runtime.predict(codec.decode(body, charset), keep_refused=report)
            else:
                predictions = runtime.predict_record(record)
            encoded = answer.encode(predictions)
        environ[RECORDS_KEY] = predictions.records
        response = Response(encoded, content_type=CONTENT_TYPES[answer.media_type])
        response.headers.add(MODEL_VERSION, predictions.model_version)  # cheaper than Response(headers=[...])
        if report:
            refused = predictions.refused
            response.headers.add(BAD_RECORDS, "0" if refused is None else str(refused.count))
        return response

    @app.errorhandler(DelaycastError)
    def expected_error(error: DelaycastError) -> tuple[Response, int]:
        return _error_body(error.title, error.detail), int(error.status)

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> tuple[Response, int]:
        status = error.code or HTTPStatus.BAD_REQUEST
        detail = error.description or ""
        if status == HTTPStatus.REQUEST_ENTITY_TOO_LARGE:
            detail = f"the body is larger than {settings.max_payload_bytes} bytes (SAGEMAKER_MAX_PAYLOAD_IN_MB)"
        response = _error_body(HTTPStatus(status).phrase.lower(), detail)
        response.headers.extend((k, v) for k, v in error.get_headers() if k.lower() != "content-type")  # 405: Allow
        return response, status

    @app.errorhandler(Exception)
    def unexpected_error(error: Exception) -> tuple[Response, int]:
        request_id = request.environ[REQUEST_ID_KEY]
        log.exception("unexpected error", extra={"request_id": request_id})
        detail = f"the server failed on this request; quote request id {request_id}"
        return _error_body("internal error", detail), HTTPStatus.INTERNAL_SERVER_ERROR

    app.wsgi_app = StampedResponses(app.wsgi_app, settings.access_log)  # type: ignore[method-assign]
    return app


class StampedResponses:
    """WSGI middleware: every response gets its request id and the caller's custom attributes (if plain and
    short), and a log line when it failed or the access log is on (never for /ping)."""

    def __init__(self, app: WSGIApplication, access_log: bool) -> None:
        self.app = app
        self.access_log = access_log

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        """Serve one request through the wrapped app."""
        environ[STARTED_KEY] = time.perf_counter()
        request_id = environ[REQUEST_ID_KEY] = environ.get(INFERENCE_ID_KEY) or next_request_id()
        stamps = [(REQUEST_ID, request_id)]
        attributes = environ.get(CUSTOM_ATTRIBUTES_KEY)
        if attributes and len(attributes) <= CUSTOM_ATTRIBUTES_LIMIT and attributes.isascii():
            stamps.append((CUSTOM_ATTRIBUTES, attributes))

        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], object]:
            if status[0] in "45" or (self.access_log and environ.get("PATH_INFO") != "/ping"):
                _log_request(environ, int(status[:3]))
            return start_response(status, headers + stamps, exc_info)

        return self.app(environ, start)


def read_body(environ: WSGIEnvironment, limit: int) -> bytes:
    """The request body, at most `limit` bytes (a 413 beyond); one the WSGI server cannot read (malformed
    chunked encoding, cut short) is a 400.

    A body with a Content-Length is read from the WSGI input in one call of exactly that length: werkzeug's
    limited stream reads in a loop until the end (51 against 12 us of CPU per request in the server).
    """
    length = get_content_length(environ)
    if length is not None and length > limit:
        raise RequestEntityTooLarge()
    try:
        body = _chunked_body(limit) if length is None else environ["wsgi.input"].read(length)
    except HTTPException:
        raise
    except Exception:
        raise BadRequest(UNREADABLE_BODY) from None
    if length is not None and len(body) != length:
        raise BadRequest(UNREADABLE_BODY)
    return body


def _chunked_body(limit: int) -> bytes:
    """A body without a Content-Length, through werkzeug. It stops at the limit without a word: one byte
    more is a 413 here, not a silently truncated batch."""
    body = request.get_data(cache=False)
    if len(body) == limit and request.input_stream.read(1):
        raise RequestEntityTooLarge()
    return body


def next_request_id() -> str:
    """A request id unique across workers: a random prefix drawn in each process, then a counter (no system call
    per request, as `secrets` would make)."""
    return f"{_id_prefix}{next(_ID_COUNTER):016x}"


def _new_id_prefix() -> None:
    global _id_prefix
    _id_prefix = secrets.token_hex(8)


_id_prefix = secrets.token_hex(8)
_ID_COUNTER = itertools.count()
os.register_at_fork(after_in_child=_new_id_prefix)  # forked workers must not share the master's prefix


def _error_body(title: str, detail: str) -> Response:
    return jsonify({"error": title, "detail": detail})


def _log_request(environ: WSGIEnvironment, status: int) -> None:
    started = environ[STARTED_KEY]
    log.info(
        "request",
        extra={
            "request_id": environ[REQUEST_ID_KEY],
            "method": environ.get("REQUEST_METHOD"),
            "path": environ.get("PATH_INFO"),
            "status": status,
            "ms": round((time.perf_counter() - started) * 1000, 2),
            "records": environ.get(RECORDS_KEY, 0),
        },
    )
