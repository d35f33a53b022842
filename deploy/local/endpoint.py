"""A local SageMaker runtime: `POST /endpoints/<name>/invocations` forwarded to a model server.

boto3's `sagemaker-runtime` client talks to it with `endpoint_url=`, so the
caller's real botocore path runs: request serialisation, SigV4 signing (the
signature is required but not verified), retries, and error parsing. Errors
use the runtime's own shapes: ValidationError (400), ModelError (424, with
OriginalStatusCode and OriginalMessage), ServiceUnavailable (503).

An endpoint can be told to misbehave, for tests of its callers:

    Fault("slow", seconds=3)            the model server is called 3 s late
    Fault("model_status", status=500)   the container answers 500: ModelError (424, OriginalStatusCode 500)
    Fault("throttle")                   ThrottlingException (400)
    Fault("not_ready")                  ModelNotReadyException (429)
    Fault("unavailable")                ServiceUnavailable (503)
    Fault("internal")                   InternalFailure (500)

given as `Endpoint(name, model_url, fault=...)`; it applies to every call.

A model server that is down needs no fault: point `model_url` at a port nothing
listens on and the runtime answers ServiceUnavailable, as SageMaker does.
"""

from __future__ import annotations

import http.client
import json
import logging
import re
import sys
import threading
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from time import sleep
from typing import Any, Literal, get_args
from urllib.parse import unquote, urlsplit

log = logging.getLogger("delaycast.local.endpoint")
MAX_BODY_BYTES = 6 * 1024 * 1024  # InvokeEndpoint's limit
FORWARDED_HEADERS = (
    "Content-Type",
    "Accept",
    "X-Amzn-SageMaker-Custom-Attributes",
    "X-Amzn-SageMaker-Inference-Id",
    "X-Amzn-SageMaker-Target-Model",
)
VARIANT = "AllTraffic"
_PATH = re.compile(r"^/endpoints/([^/]+)/invocations$")
FaultKind = Literal["slow", "model_status", "throttle", "not_ready", "unavailable", "internal"]
# The runtime's own errors: status, code and message as InvokeEndpoint sends them. botocore's
# sagemaker-runtime model has ModelNotReadyException 429, ServiceUnavailable 503 and InternalFailure 500;
# throttling is not modelled there: it is ThrottlingException with HTTP 400, the pair botocore's retry rules
# (data/_retry.json "throttling_exception", retries/standard.py) retry as throttling.
RUNTIME_ERRORS: dict[FaultKind, tuple[int, str, str]] = {
    "throttle": (400, "ThrottlingException", "Rate exceeded"),
    "not_ready": (429, "ModelNotReadyException", "Model is not ready to serve inference requests."),
    "unavailable": (503, "ServiceUnavailable", "Service is unavailable. Try your call again."),
    "internal": (500, "InternalFailure", "An internal failure occurred."),
}


@dataclass(frozen=True)
class Fault:
    """A way for one endpoint to misbehave, on every call, in the runtime's own error shapes."""

    kind: FaultKind
    seconds: float = 0.0  # slow: how long to wait before calling the model server
    status: int = 500  # model_status: the status the container "answers", passed on as ModelError

    def __post_init__(self) -> None:
        if self.kind not in get_args(FaultKind):
            raise ValueError(f"fault kind is one of {', '.join(get_args(FaultKind))}, not {self.kind!r}")

    def apply(self, endpoint: Endpoint) -> RuntimeFault | None:
        """The error to answer instead of calling the model server, or None to call it (after a delay if slow)."""
        if self.kind == "slow":
            sleep(self.seconds)
            return None
        if self.kind == "model_status":
            original = json.dumps({"error": "injected fault", "detail": f"the container answered {self.status}"})
            return _model_error(endpoint, self.status, original)
        status, code, message = RUNTIME_ERRORS[self.kind]
        return RuntimeFault(status, code, message)


@dataclass(frozen=True)
class Endpoint:
    """One named endpoint and the model server behind it; `fault` makes it misbehave."""

    name: str
    model_url: str  # e.g. http://127.0.0.1:8080
    timeout_seconds: float = 60.0
    fault: Fault | None = None


@dataclass(frozen=True)
class RuntimeFault:
    """An error in the SageMaker runtime's wire shape."""

    status: int
    code: str
    message: str
    extra: dict[str, object] | None = None

    def body(self) -> bytes:
        return json.dumps({"message": self.message, **(self.extra or {})}).encode()


class LocalEndpointServer(ThreadingHTTPServer):
    """The HTTP server; `endpoints` maps endpoint names to model servers."""

    daemon_threads = True

    def __init__(self, port: int, endpoints: list[Endpoint]) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.endpoints = {e.name: e for e in endpoints}

    @property
    def url(self) -> str:
        """The endpoint_url to give boto3."""
        return f"http://127.0.0.1:{self.server_address[1]}"

    def start(self) -> threading.Thread:
        """Serve in a daemon thread."""
        thread = threading.Thread(target=self.serve_forever, name="local-endpoint", daemon=True)
        thread.start()
        return thread

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A caller that hung up before the answer (its read timeout ran out) is a debug line, not a traceback."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            log.debug("%s hung up before the answer", client_address)
        else:
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    server: LocalEndpointServer
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        outcome = self._invoke(body)
        if isinstance(outcome, RuntimeFault):
            self._send_error(outcome)
        else:
            self._send(*outcome)

    def _invoke(self, body: bytes) -> RuntimeFault | tuple[int, dict[str, str], bytes]:
        match = _PATH.match(urlsplit(self.path).path)
        if match is None:
            return RuntimeFault(404, "UnknownOperationException", f"no operation at {self.path}")
        if not self.headers.get("Authorization", "").startswith("AWS4-HMAC-SHA256"):
            return RuntimeFault(403, "MissingAuthenticationTokenException", "request is not signed with SigV4")
        endpoint = self.server.endpoints.get(unquote(match.group(1)))
        if endpoint is None:
            return RuntimeFault(400, "ValidationError", f"Endpoint {unquote(match.group(1))} not found.")
        if len(body) > MAX_BODY_BYTES:
            return RuntimeFault(400, "ValidationError", f"Request body is larger than {MAX_BODY_BYTES} bytes.")
        injected = endpoint.fault.apply(endpoint) if endpoint.fault is not None else None
        if injected is not None:
            return injected
        return forward(endpoint, body, {h: v for h in FORWARDED_HEADERS if (v := self.headers.get(h))})

    def _send(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _send_error(self, error: RuntimeFault) -> None:
        headers = {"Content-Type": "application/json", "x-amzn-ErrorType": error.code}
        self._send(error.status, headers, error.body())

    def log_message(self, format: str, *args: object) -> None:
        log.debug(format, *args)


def forward(
    endpoint: Endpoint, body: bytes, headers: dict[str, str]
) -> RuntimeFault | tuple[int, dict[str, str], bytes]:
    """POST the body to the model server's /invocations and shape its answer as InvokeEndpoint's."""
    target = urlsplit(endpoint.model_url)
    connection = http.client.HTTPConnection(
        target.hostname or "127.0.0.1", target.port, timeout=endpoint.timeout_seconds
    )
    try:
        connection.request("POST", "/invocations", body=body, headers=headers)
        response = connection.getresponse()
        answer = response.read()
    except TimeoutError:
        return _model_error(endpoint, 0, f"timed out after {endpoint.timeout_seconds:g} s")
    except OSError as error:
        return RuntimeFault(503, "ServiceUnavailable", f"model server unreachable: {error.strerror or error}")
    finally:
        connection.close()
    if response.status >= 300:
        return _model_error(endpoint, response.status, answer.decode("utf-8", "replace"))
    reply = {
        "Content-Type": response.getheader("Content-Type", "application/octet-stream"),
        "x-Amzn-Invoked-Production-Variant": VARIANT,
    }
    attributes = response.getheader("X-Amzn-SageMaker-Custom-Attributes")
    if attributes:
        reply["X-Amzn-SageMaker-Custom-Attributes"] = attributes
    return HTTPStatus.OK, reply, answer


def _model_error(endpoint: Endpoint, status: int, original: str) -> RuntimeFault:
    kind = "client" if 400 <= status < 500 else "server"
    message = f'Received {kind} error ({status}) from primary with message "{original}".'
    extra = {
        "OriginalStatusCode": status,
        "OriginalMessage": original,
        "LogStreamArn": f"arn:aws:logs:local:000000000000:log-group:/aws/sagemaker/Endpoints/{endpoint.name}",
    }
    return RuntimeFault(424, "ModelError", message, extra)
