"""Fixtures: an isolated AWS environment, a cold container, a stubbed sagemaker-runtime client, local sockets."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from delaycast_api.handler import Handler, container_handler
from delaycast_api.settings import Settings
from tests.lambda_.support import function_url_event, http_event, rest_event

ENDPOINT = "delaycast-test"
ENVIRONMENT = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "http_proxy",
    "https_proxy",
    "ENDPOINT_NAME",
    "SAGEMAKER_RUNTIME_URL",
    "CORS_ALLOW_ORIGIN",
    "MAX_BATCH",
    "ENDPOINT_TIMEOUT_SECONDS",
    "DELAYCAST_FLIGHT_TABLE",
    "DYNAMODB_URL",
    "STORE_TIMEOUT_SECONDS",
)
EventMaker = Callable[..., dict[str, Any]]


@pytest.fixture(autouse=True)
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Dummy credentials in us-east-1; no profile, shared files, instance metadata or proxy is used."""
    for name in ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDDELAYCASTTEST")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "delaycast-test-secret")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "delaycast-test-token")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


@pytest.fixture
def cold_container() -> Iterator[None]:
    """A container before its first invocation: `lambda_handler` builds its Handler anew, and forgets it after."""
    container_handler.cache_clear()
    yield
    container_handler.cache_clear()


@pytest.fixture
def runtime_client(aws_env: None) -> Any:
    """A real boto3 sagemaker-runtime client (us-east-1, dummy credentials)."""
    return boto3.client("sagemaker-runtime", region_name="us-east-1")


@pytest.fixture
def calls(runtime_client: Any) -> list[dict[str, Any]]:
    """The parameters of every InvokeEndpoint call the client makes."""
    seen: list[dict[str, Any]] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        seen.append(dict(params))

    runtime_client.meta.events.register("provide-client-params.sagemaker-runtime.InvokeEndpoint", record)
    return seen


@pytest.fixture
def stubber(runtime_client: Any, calls: list[dict[str, Any]]) -> Iterator[Stubber]:
    """The client's Stubber: every queued answer must be used by the end of the test, and no more."""
    with Stubber(runtime_client) as stub:
        yield stub
        stub.assert_no_pending_responses()


@pytest.fixture
def make_handler(runtime_client: Any, stubber: Stubber) -> Callable[..., Handler]:
    """Build a Handler on the stubbed client: `make_handler(max_batch=2)`; `client=None` makes a real one."""

    def build(client: Any = runtime_client, **settings: Any) -> Handler:
        return Handler(Settings(endpoint_name=ENDPOINT, **settings), client)

    return build


@pytest.fixture(params=["rest", "http", "function-url"])
def make_event(request: pytest.FixtureRequest) -> EventMaker:
    """A builder of each event that gets the API Gateway response shape: REST API (1.0), HTTP API (2.0), function
    URL. The load balancer's own shape has its tests in test_events.py."""
    builders: dict[str, EventMaker] = {"rest": rest_event, "http": http_event, "function-url": function_url_event}
    return builders[request.param]


@pytest.fixture
def refused_url() -> str:
    """A 127.0.0.1 URL with nothing listening: connections are refused."""
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture
def silent_url() -> Iterator[str]:
    """A 127.0.0.1 server that accepts connections and never answers; closed at the end of the test."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.05)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(timeout=2)
        for connection in held:
            connection.close()
        server.close()
