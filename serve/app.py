"""The HTTP layer: SageMaker's /ping, /invocations and /execution-parameters on Flask, and /openapi.json.

It maps requests to codecs and the runtime, and every failure to a JSON body
`{"error": ..., "detail": ...}` with its status; never a traceback.
"""

from __future__ import annotations

import logging
import secrets
import time
from functools import lru_cache
from http import HTTPStatus
from pathlib import Path

from flask import Flask, Response, jsonify, request
from werkzeug.datastructures import MIMEAccept
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge
from werkzeug.http import parse_accept_header

from delaycast.errors import DelaycastError
from serve.codecs import Codec, request_codec, response_codec
from serve.errors import BadRequest
from serve.runtime import ModelRuntime
from serve.settings import ServerSettings

log = logging.getLogger("delaycast.serve")
CUSTOM_ATTRIBUTES = "X-Amzn-SageMaker-Custom-Attributes"
INFERENCE_ID = "X-Amzn-SageMaker-Inference-Id"
MODEL_VERSION = "X-Delaycast-Model-Version"
REQUEST_ID = "X-Request-Id"
CUSTOM_ATTRIBUTES_LIMIT = 1024
# The same headers as WSGI environ keys, read without building a Headers view per lookup.
CUSTOM_ATTRIBUTES_KEY = "HTTP_X_AMZN_SAGEMAKER_CUSTOM_ATTRIBUTES"
INFERENCE_ID_KEY = "HTTP_X_AMZN_SAGEMAKER_INFERENCE_ID"
REQUEST_ID_KEY = "delaycast.request_id"  # this request's id, once made up
STARTED_KEY, RECORDS_KEY = "delaycast.started", "delaycast.records"  # for its log line
OPENAPI_DOCUMENT = Path(__file__).with_name("openapi.json")


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

    @app.get("/ping")
    def ping() -> Response:
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
        environ[STARTED_KEY] = time.perf_counter()
        answer = answer_codec(environ.get("HTTP_ACCEPT"))
        codec, charset = request_codec(environ.get("CONTENT_TYPE"))
        body = _body()
        record = codec.decode_record(body, charset)
        predictions = runtime.predict(codec.decode(body, charset)) if record is None else runtime.predict_record(record)
        environ[RECORDS_KEY] = len(predictions.probabilities)
        return Response(
            answer.encode(predictions),
            headers={MODEL_VERSION: predictions.model_version},
            mimetype=answer.media_type,
        )

    @app.after_request
    def finish(response: Response) -> Response:
        response.headers[REQUEST_ID] = _request_id()
        attributes = request.environ.get(CUSTOM_ATTRIBUTES_KEY)
        if attributes and len(attributes) <= CUSTOM_ATTRIBUTES_LIMIT and attributes.isascii():
            response.headers[CUSTOM_ATTRIBUTES] = attributes
        if response.status_code >= HTTPStatus.BAD_REQUEST or (settings.access_log and request.path != "/ping"):
            _log_request(response.status_code)
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
        log.exception("unexpected error", extra={"request_id": _request_id()})
        detail = f"the server failed on this request; quote request id {_request_id()}"
        return _error_body("internal error", detail), HTTPStatus.INTERNAL_SERVER_ERROR

    return app


@lru_cache(maxsize=256)
def answer_codec(accept: str | None) -> Codec:
    """The response codec for an Accept header; cached, as clients repeat a few headers."""
    return response_codec(list(parse_accept_header(accept, MIMEAccept)))


def _body() -> bytes:
    """The request body; one the WSGI server cannot read (malformed chunked encoding, cut short) is a 400.

    Werkzeug stops reading a chunked body (no Content-Length) at the limit without a word: one byte
    more is a 413 here, not a silently truncated batch.
    """
    try:
        body = request.get_data(cache=False)
        if request.content_length is None and len(body) == request.max_content_length and request.input_stream.read(1):
            raise RequestEntityTooLarge()
    except HTTPException:
        raise
    except Exception:
        raise BadRequest("the request body could not be read (malformed chunked encoding, or cut short)") from None
    return body


def _request_id() -> str:
    """The caller's inference id, else one made up for this request (the same one for every call)."""
    environ = request.environ
    request_id: str | None = environ.get(REQUEST_ID_KEY)
    if request_id is None:
        request_id = environ[REQUEST_ID_KEY] = environ.get(INFERENCE_ID_KEY) or secrets.token_hex(16)
    return request_id


def _error_body(title: str, detail: str) -> Response:
    return jsonify({"error": title, "detail": detail})


def _log_request(status: int) -> None:
    environ = request.environ
    started = environ.get(STARTED_KEY)
    log.info(
        "request",
        extra={
            "request_id": _request_id(),
            "method": request.method,
            "path": request.path,
            "status": status,
            "ms": round((time.perf_counter() - started) * 1000, 2) if started is not None else None,
            "records": environ.get(RECORDS_KEY, 0),
        },
    )
