"""A local API Gateway: HTTP requests become proxy events (payload 1.0 or 2.0) for the Lambda handler.

Like `sam local start-api` (which cannot run here: it pulls images), it calls
the real handler (`delaycast_api.handler.lambda_handler`, imported from lambda/)
in-process and turns its proxy response back into HTTP. A response that is not
a valid proxy response becomes API Gateway's own 502 `{"message": "Internal server error"}`.
"""

from __future__ import annotations

import base64
import logging
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

log = logging.getLogger("delaycast.local.api")
REPO = Path(__file__).resolve().parents[2]
LAMBDA_ROOT = REPO / "lambda"  # what the Lambda runtime puts on sys.path: the zip's root
TEXT_TYPES = ("text/", "application/json", "application/jsonlines", "application/x-www-form-urlencoded")
Handler = Callable[[dict[str, Any], Any], Any]


@dataclass
class LambdaContext:
    """The attributes of the Lambda context object that handlers read."""

    function_name: str = "delaycast-predict"
    memory_limit_in_mb: int = 256
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:000000000000:function:delaycast-predict"
    deadline_ms: float = field(default_factory=lambda: time.time() * 1000 + 30_000)

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left before the (simulated) 30 s timeout."""
        return max(0, int(self.deadline_ms - time.time() * 1000))


def load_handler() -> Handler:
    """`delaycast_api.handler.lambda_handler` as a new container has it, its Handler not built yet (it is, from
    the environment, on the first event); imported with lambda/ on sys.path, as Lambda has the zip's root."""
    if str(LAMBDA_ROOT) not in sys.path:
        sys.path.append(str(LAMBDA_ROOT))
    from delaycast_api.handler import container_handler, lambda_handler

    container_handler.cache_clear()
    return lambda_handler


def build_event(
    payload_version: str, method: str, target: str, headers: dict[str, str], body: bytes, route: str
) -> dict[str, Any]:
    """An API Gateway Lambda proxy event for one HTTP request."""
    parts = urlsplit(target)
    is_text = headers.get("Content-Type", "").lower().startswith(TEXT_TYPES) or not body
    text = body.decode("utf-8", "replace") if is_text else base64.b64encode(body).decode()
    query = dict(parse_qsl(parts.query))
    request_id = str(uuid.uuid4())
    if payload_version == "2.0":
        return {
            "version": "2.0",
            "routeKey": f"{method} {route}",
            "rawPath": parts.path,
            "rawQueryString": parts.query,
            "headers": {k.lower(): v for k, v in headers.items()},
            "queryStringParameters": query or None,
            "requestContext": {
                "http": {
                    "method": method,
                    "path": parts.path,
                    "protocol": "HTTP/1.1",
                    "sourceIp": "127.0.0.1",
                    "userAgent": headers.get("User-Agent", ""),
                },
                "requestId": request_id,
                "routeKey": f"{method} {route}",
                "stage": "$default",
            },
            "body": text or None,
            "isBase64Encoded": not is_text,
        }
    return {
        "resource": route,
        "path": parts.path,
        "httpMethod": method,
        "headers": dict(headers),
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": query or None,
        "multiValueQueryStringParameters": {k: [v] for k, v in query.items()} or None,
        "requestContext": {
            "httpMethod": method,
            "path": parts.path,
            "requestId": request_id,
            "stage": "local",
            "identity": {"sourceIp": "127.0.0.1", "userAgent": headers.get("User-Agent", "")},
        },
        "body": text or None,
        "isBase64Encoded": not is_text,
    }


def proxy_response(result: Any) -> tuple[int, dict[str, str], bytes]:
    """The HTTP answer for a handler's return value, or API Gateway's 502 when it is malformed."""
    valid = (
        isinstance(result, dict)
        and isinstance(result.get("statusCode"), int)
        and isinstance(result.get("body", ""), str)
        and isinstance(result.get("headers", {}), dict)
        and all(isinstance(v, str) for v in result.get("headers", {}).values())
        and isinstance(result.get("isBase64Encoded", False), bool)
    )
    if not valid:
        log.error("malformed Lambda proxy response")
        return 502, {"Content-Type": "application/json"}, b'{"message": "Internal server error"}'
    body = result.get("body", "")
    data = base64.b64decode(body) if result.get("isBase64Encoded") else body.encode()
    return result["statusCode"], dict(result.get("headers", {})), data


class LocalApiServer(ThreadingHTTPServer):
    """The HTTP server: one route (POST and OPTIONS) to the handler, 404 elsewhere."""

    daemon_threads = True

    def __init__(self, port: int, handler: Handler, payload_version: str = "2.0", route: str = "/predict") -> None:
        if payload_version not in ("1.0", "2.0"):
            raise ValueError("payload_version is 1.0 (REST API) or 2.0 (HTTP API)")
        super().__init__(("127.0.0.1", port), _RequestHandler)
        self.handler = handler
        self.payload_version = payload_version
        self.route = route

    @property
    def url(self) -> str:
        """Base URL of the API."""
        return f"http://127.0.0.1:{self.server_address[1]}"

    def start(self) -> threading.Thread:
        """Serve in a daemon thread."""
        thread = threading.Thread(target=self.serve_forever, name="local-api", daemon=True)
        thread.start()
        return thread


class _RequestHandler(BaseHTTPRequestHandler):
    server: LocalApiServer
    protocol_version = "HTTP/1.1"

    def _dispatch(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if urlsplit(self.path).path != self.server.route:
            self._send(404, {"Content-Type": "application/json"}, b'{"message":"Not Found"}')
            return
        event = build_event(
            self.server.payload_version, self.command, self.path, dict(self.headers.items()), body, self.server.route
        )
        try:
            result = self.server.handler(event, LambdaContext())
        except Exception:
            log.exception("the handler raised")
            result = None
        self._send(*proxy_response(result))

    def do_POST(self) -> None:
        self._dispatch()

    def do_OPTIONS(self) -> None:
        self._dispatch()

    def do_GET(self) -> None:
        self._dispatch()

    def _send(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.send_response(status)
        for name, value in headers.items():
            if name.lower() != "content-length":
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        log.debug(format, *args)
