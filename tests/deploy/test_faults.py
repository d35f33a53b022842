"""Endpoint faults through the real chain: the client gets the mapped status in bounded time, nothing hangs.

    HTTP client -> local API (payload 1.0 and 2.0) -> delaycast_api.handler -> boto3 (signing, retries)
      -> local InvokeEndpoint (deploy.local.endpoint, with a Fault) -> `python -m serve` -> model

Each fault has its own endpoint name on one local InvokeEndpoint, and its own Handler, built with
ENDPOINT_TIMEOUT_SECONDS=1 (the deployed default is 10). The handler's client
makes at most ATTEMPTS attempts, so every answer must come within
ATTEMPTS x (connect timeout + read timeout) + botocore's backoff before the one retry (under 1 s).
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from delaycast_api.handler import Handler
from delaycast_api.settings import Settings
from deploy.local.api import LocalApiServer
from deploy.local.chain import free_port, process_server
from deploy.local.endpoint import Endpoint, Fault, LocalEndpointServer

FLIGHT = {
    "carrier": "UA",
    "flight_number": 1545,
    "origin": "EWR",
    "dest": "IAH",
    "flight_date": "2013-11-05",
    "crs_dep_time": "05:15",
}
READ_TIMEOUT = "1"  # ENDPOINT_TIMEOUT_SECONDS for these tests
ATTEMPTS = 2  # the handler's botocore client: total_max_attempts
MAX_BACKOFF = 1.0  # botocore standard retries: the first retry waits random() x 1 s at most
SLOW_SECONDS = 3.0  # a slow endpoint answers after this: longer than the read timeout
ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "local",  # signing needs credentials; the local endpoint checks a signature exists
    "AWS_SECRET_ACCESS_KEY": "local",
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
    "NO_PROXY": "127.0.0.1,localhost",
    "no_proxy": "127.0.0.1,localhost",
}
ISOLATED = ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME")


@dataclass(frozen=True)
class Case:
    """An endpoint fault, and what the client must get: status, Retry-After, InvokeEndpoint attempts."""

    endpoint: str
    fault: Fault | None
    status: int
    retry_after: str | None
    attempts: int


CASES = [
    Case("healthy", None, 200, None, 1),
    Case("slow", Fault("slow", seconds=SLOW_SECONDS), 504, None, ATTEMPTS),  # ReadTimeoutError, retried
    Case("model-5xx", Fault("model_status", status=500), 502, None, 1),  # ModelError 424, not retried
    Case("throttled", Fault("throttle"), 429, "1", ATTEMPTS),  # ThrottlingException 400, retried
    Case("not-ready", Fault("not_ready"), 503, "5", 1),  # ModelNotReadyException 429, not retried
    Case("unavailable", Fault("unavailable"), 503, "5", ATTEMPTS),  # ServiceUnavailable 503, retried
    Case("internal", Fault("internal"), 500, None, ATTEMPTS),  # InternalFailure 500, retried
    Case("model-down", None, 503, "5", ATTEMPTS),  # model server refuses connections: ServiceUnavailable
    Case("runtime-down", None, 503, "5", ATTEMPTS),  # InvokeEndpoint itself refuses: EndpointConnectionError
]


@dataclass(frozen=True)
class Api:
    """One local API in front of one Handler, and the budget its answers must come within."""

    url: str
    budget_seconds: float
    attempts: list[float]  # when each InvokeEndpoint attempt was sent (time.monotonic)


@dataclass(frozen=True)
class Answer:
    """What the client got, and how long it took."""

    status: int
    headers: dict[str, str]
    body: Any
    seconds: float


@pytest.fixture(scope="module")
def environment() -> Iterator[None]:
    """Dummy credentials in us-east-1, no profile or proxy: boto3 signs, and talks only to 127.0.0.1."""
    with pytest.MonkeyPatch.context() as patch:
        for name in ISOLATED:
            patch.delenv(name, raising=False)
        for name, value in ENVIRONMENT.items():
            patch.setenv(name, value)
        yield


@pytest.fixture(scope="module")
def runtime_url(model_dir: Path) -> Iterator[str]:
    """One model server and one local InvokeEndpoint with an endpoint per case; `model-down` has no server."""
    with process_server(model_dir, free_port()) as model_url:
        down = f"http://127.0.0.1:{free_port()}"
        endpoints = [
            Endpoint(case.endpoint, down if case.endpoint == "model-down" else model_url, fault=case.fault)
            for case in CASES
        ]
        server = LocalEndpointServer(0, endpoints)
        server.start()
        try:
            yield server.url
        finally:
            server.shutdown()
            server.server_close()


@pytest.fixture(scope="module", params=["2.0", "1.0"], ids=["http-api", "rest-api"])
def serve(request: pytest.FixtureRequest, environment: None, runtime_url: str) -> Iterator[Callable[[Case], Api]]:
    """Start a local API (this payload version) in front of a Handler for a case; all are stopped at the end."""
    servers: list[LocalApiServer] = []

    def start(case: Case) -> Api:
        url = f"http://127.0.0.1:{free_port()}" if case.endpoint == "runtime-down" else runtime_url
        env = {"ENDPOINT_NAME": case.endpoint, "SAGEMAKER_RUNTIME_URL": url, "ENDPOINT_TIMEOUT_SECONDS": READ_TIMEOUT}
        handler = Handler(Settings.from_env({**env, "AWS_REGION": "us-east-1"}))
        client: Any = handler.client  # boto3's, with its event hooks and configuration
        attempts: list[float] = []
        client.meta.events.register(
            "before-send.sagemaker-runtime.InvokeEndpoint", lambda **_: attempts.append(time.monotonic())
        )
        api = LocalApiServer(0, handler.handle, request.param)
        api.start()
        servers.append(api)
        config = client.meta.config  # the budget as the client is configured
        assert config.retries["total_max_attempts"] == ATTEMPTS
        budget = ATTEMPTS * (config.connect_timeout + config.read_timeout) + MAX_BACKOFF
        return Api(f"{api.url}/predict", budget, attempts)

    yield start
    with ThreadPoolExecutor() as pool:  # each shutdown waits up to half a second for its serve loop
        list(pool.map(LocalApiServer.shutdown, servers))
    for server in servers:
        server.server_close()


def post(api: Api, payload: object) -> Answer:
    """POST JSON to the API with a client timeout past the budget; the status, headers, body and seconds."""
    request = urllib.request.Request(
        api.url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}
    )
    started = time.monotonic()
    try:
        with urllib.request.urlopen(request, timeout=api.budget_seconds + 5) as response:
            status, headers, body = response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        status, headers, body = error.code, dict(error.headers), error.read()
    return Answer(status, headers, json.loads(body), time.monotonic() - started)


@pytest.mark.parametrize("case", CASES, ids=[case.endpoint for case in CASES])
def test_fault_gets_its_mapped_status_in_time(serve: Callable[[Case], Api], case: Case) -> None:
    api = serve(case)
    answer = post(api, FLIGHT)
    assert answer.status == case.status, answer.body
    assert answer.seconds < api.budget_seconds, f"{answer.seconds:.2f} s; the budget is {api.budget_seconds:g} s"
    assert answer.headers.get("Retry-After") == case.retry_after
    assert len(api.attempts) == case.attempts
    if case.status == 200:
        assert answer.body["prediction"] in ("delay", "no delay")
        return
    assert set(answer.body) == {"error", "detail"}
    if case.status >= 500:
        assert answer.body["detail"].endswith(f"(request id {answer.headers['X-Request-Id']})")
    if case.endpoint == "slow":
        assert answer.seconds >= ATTEMPTS * float(READ_TIMEOUT), "the answer came before the timeouts ran out"


def test_concurrent_requests_to_a_slow_endpoint_all_time_out(serve: Callable[[Case], Api]) -> None:
    slow = next(case for case in CASES if case.endpoint == "slow")
    api = serve(slow)
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(lambda _: post(api, FLIGHT), range(8)))
    assert [answer.status for answer in answers] == [504] * 8
    assert time.monotonic() - started < api.budget_seconds
    assert len(api.attempts) == 8 * ATTEMPTS
