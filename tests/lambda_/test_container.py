"""`lambda_handler` as Lambda runs it: settings read once from the environment, one client, JSON log lines."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from botocore.stub import Stubber

from delaycast.errors import ConfigError
from delaycast_api.handler import Handler, Misconfigured, container_handler, lambda_handler
from delaycast_api.settings import Settings
from tests.lambda_.support import (
    FLIGHT,
    FakeContext,
    assert_valid_proxy_response,
    endpoint_answer,
    http_event,
    rest_event,
)


def request_lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    """The handler's log lines, parsed."""
    return [json.loads(r.getMessage()) for r in caplog.records if r.name == "delaycast.lambda"]


@pytest.mark.usefixtures("cold_container")
def test_lambda_handler_builds_one_handler_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, refused_url: str
) -> None:
    monkeypatch.setenv("ENDPOINT_NAME", "delaycast-prod")
    monkeypatch.setenv("SAGEMAKER_RUNTIME_URL", refused_url)
    monkeypatch.setenv("CORS_ALLOW_ORIGIN", "https://delays.example.org")
    monkeypatch.setenv("MAX_BATCH", "3")
    monkeypatch.setenv("ENDPOINT_TIMEOUT_SECONDS", "4.5")
    response = lambda_handler(rest_event(json.dumps(FLIGHT)), FakeContext())
    assert_valid_proxy_response(response)
    assert response["statusCode"] == 503  # the configured URL refuses: the real client was used
    assert response["headers"]["Access-Control-Allow-Origin"] == "https://delays.example.org"

    handler = container_handler()
    assert isinstance(handler, Handler)
    assert handler.settings == Settings(
        endpoint_name="delaycast-prod",
        region="us-east-1",
        runtime_url=refused_url,
        cors_allow_origin="https://delays.example.org",
        max_batch=3,
        read_timeout_seconds=4.5,
    )
    client: Any = handler.client  # boto3's client; RuntimeClient names only invoke_endpoint
    assert client.meta.config.read_timeout == 4.5
    monkeypatch.setenv("MAX_BATCH", "1")  # read once: later changes do not count
    response = lambda_handler(http_event(json.dumps([FLIGHT] * 4)), FakeContext())
    assert "the limit is 3" in assert_valid_proxy_response(response)["detail"]
    assert container_handler() is handler


@pytest.mark.parametrize(
    ("name", "value", "reason"),
    [
        ("ENDPOINT_NAME", "", "ENDPOINT_NAME must name the SageMaker endpoint"),
        ("ENDPOINT_NAME", "delaycast prod", "ENDPOINT_NAME must name the SageMaker endpoint"),
        ("MAX_BATCH", "lots", "MAX_BATCH='lots' is not a whole number from 1 to 10000"),
        ("ENDPOINT_TIMEOUT_SECONDS", "0", "ENDPOINT_TIMEOUT_SECONDS='0' is outside 0.1..120.0"),
        ("SAGEMAKER_RUNTIME_URL", "127.0.0.1:8080", "SAGEMAKER_RUNTIME_URL must be an http(s) URL"),
    ],
)
@pytest.mark.usefixtures("cold_container")
def test_a_misconfigured_function_answers_500_to_every_call(
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    name: str,
    value: str,
    reason: str,
) -> None:
    monkeypatch.setenv("ENDPOINT_NAME", "delaycast-prod")
    monkeypatch.setenv(name, value)
    for event in (rest_event(json.dumps(FLIGHT)), http_event(None, method="OPTIONS")):
        response = lambda_handler(event, FakeContext())
        body = assert_valid_proxy_response(response)
        assert response["statusCode"] == 500
        assert body["detail"] == f"the service is misconfigured (request id {FakeContext().aws_request_id})"
    lines = request_lines(caplog)
    assert len(lines) == 2
    assert all(line["reason"].startswith(reason) and line["status"] == 500 for line in lines)


@pytest.mark.usefixtures("cold_container")
def test_without_endpoint_name_nothing_is_configured() -> None:
    response = lambda_handler(http_event(json.dumps(FLIGHT)), None)
    assert_valid_proxy_response(response)
    assert response["statusCode"] == 500
    assert isinstance(container_handler(), Misconfigured)


def test_settings_defaults() -> None:
    settings = Settings.from_env({"ENDPOINT_NAME": "delaycast-prod"})
    assert settings == Settings(endpoint_name="delaycast-prod")
    assert (settings.cors_allow_origin, settings.max_batch, settings.read_timeout_seconds) == ("*", 100, 10.0)
    assert (settings.region, settings.runtime_url, settings.connect_timeout_seconds) == (None, None, 2.0)
    with pytest.raises(ConfigError, match="MAX_BATCH"):
        Settings.from_env({"ENDPOINT_NAME": "e", "MAX_BATCH": "2.5"})


def test_one_log_line_per_request_without_the_payload(
    make_handler: Callable[..., Any], stubber: Stubber, caplog: pytest.LogCaptureFixture
) -> None:
    stubber.add_response("invoke_endpoint", endpoint_answer(0.1, 0.9))
    stubber.add_client_error("invoke_endpoint", "ThrottlingException", "Rate exceeded", 400)
    handler = make_handler()
    for event, request_id in [
        (rest_event(json.dumps([FLIGHT, FLIGHT])), FakeContext().aws_request_id),
        (http_event(json.dumps(FLIGHT)), "req-2"),
        (http_event(json.dumps({**FLIGHT, "origin": "QQ"})), "req-3"),
    ]:
        assert_valid_proxy_response(handler.handle(event, FakeContext(request_id)))
    first, second, third = request_lines(caplog)
    assert {key: first[key] for key in ("request_id", "method", "status", "records")} == {
        "request_id": FakeContext().aws_request_id,
        "method": "POST",
        "status": 200,
        "records": 2,
    }
    assert isinstance(first["ms"], float)
    assert "endpoint_error" not in first
    assert (second["status"], second["endpoint_error"], second["error"]) == (
        429,
        "ThrottlingException",
        "too many requests",
    )
    assert (third["status"], third["error"]) == (400, "invalid input")
    assert all(text not in caplog.text for text in ("EWR", "1545", "QQ", "2013-11-05"))


def test_the_request_id_falls_back_to_the_event(make_handler: Callable[..., Any]) -> None:
    response = make_handler().handle(http_event(None, method="GET"), None)
    assert_valid_proxy_response(response)
    assert response["headers"]["X-Request-Id"] == "http-a41b9e02"


@pytest.mark.parametrize(
    ("event", "status"),
    [
        (None, 400),
        ("POST /v1/predict", 400),
        ({}, 400),
        ({"version": "2.0", "requestContext": None}, 400),
        ({"httpMethod": 7}, 400),
        ({"httpMethod": "GET"}, 405),
    ],
)
def test_a_malformed_event_still_gets_a_proxy_response(
    make_handler: Callable[..., Any], event: Any, status: int
) -> None:
    response = make_handler().handle(event, FakeContext())
    assert_valid_proxy_response(response)
    assert response["statusCode"] == status
