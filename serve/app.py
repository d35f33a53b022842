"""The HTTP layer: SageMaker's /ping, /invocations and /execution-parameters on Flask.

It maps requests to codecs and the runtime, and every failure to a JSON body
`{"error": ..., "detail": ...}` with its status; never a traceback.
"""

from __future__ import annotations

import logging
import time
import uuid
from http import HTTPStatus

from flask import Flask, Response, g, jsonify, request
from werkzeug.exceptions import HTTPException

from delaycast.errors import DelaycastError
from serve.codecs import request_codec, response_codec
from serve.runtime import ModelRuntime
from serve.settings import ServerSettings

log = logging.getLogger("delaycast.serve")
CUSTOM_ATTRIBUTES = "X-Amzn-SageMaker-Custom-Attributes"
INFERENCE_ID = "X-Amzn-SageMaker-Inference-Id"
MODEL_VERSION = "X-Delaycast-Model-Version"
REQUEST_ID = "X-Request-Id"
CUSTOM_ATTRIBUTES_LIMIT = 1024


def create_app(runtime: ModelRuntime, settings: ServerSettings) -> Flask:
    """A Flask app serving `runtime` under `settings`."""
    app = Flask("delaycast")
    app.config["MAX_CONTENT_LENGTH"] = settings.max_payload_bytes
    execution_parameters = {
        "MaxConcurrentTransforms": settings.max_concurrent_transforms,
        "BatchStrategy": "MULTI_RECORD",
        "MaxPayloadInMB": max(1, int(settings.max_payload_mb)),
    }

    @app.get("/ping")
    def ping() -> Response:
        return Response(status=HTTPStatus.OK)

    @app.get("/execution-parameters")
    def execution() -> Response:
        return jsonify(execution_parameters)

    @app.post("/invocations")
    def invocations() -> Response:
        answer = response_codec(list(request.accept_mimetypes))
        codec, charset = request_codec(request.headers.get("Content-Type"))
        predictions = runtime.predict(codec.decode(request.get_data(cache=False), charset))
        g.records = len(predictions.probabilities)
        response = Response(answer.encode(predictions), mimetype=answer.media_type)
        response.headers[MODEL_VERSION] = predictions.model_version
        return response

    @app.before_request
    def start() -> None:
        g.started = time.perf_counter()
        g.request_id = request.headers.get(INFERENCE_ID) or uuid.uuid4().hex

    @app.after_request
    def finish(response: Response) -> Response:
        response.headers[REQUEST_ID] = g.get("request_id", "")
        attributes = request.headers.get(CUSTOM_ATTRIBUTES)
        if attributes and len(attributes) <= CUSTOM_ATTRIBUTES_LIMIT and attributes.isascii():
            response.headers[CUSTOM_ATTRIBUTES] = attributes
        if request.path != "/ping":
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
        return _error_body(HTTPStatus(status).phrase.lower(), detail), status

    @app.errorhandler(Exception)
    def unexpected_error(error: Exception) -> tuple[Response, int]:
        log.exception("unexpected error", extra={"request_id": g.get("request_id")})
        detail = f"the server failed on this request; quote request id {g.get('request_id')}"
        return _error_body("internal error", detail), HTTPStatus.INTERNAL_SERVER_ERROR

    return app


def _error_body(title: str, detail: str) -> Response:
    return jsonify({"error": title, "detail": detail})


def _log_request(status: int) -> None:
    log.info(
        "request",
        extra={
            "request_id": g.get("request_id"),
            "method": request.method,
            "path": request.path,
            "status": status,
            "ms": round((time.perf_counter() - g.get("started", time.perf_counter())) * 1000, 2),
            "records": g.get("records", 0),
        },
    )
