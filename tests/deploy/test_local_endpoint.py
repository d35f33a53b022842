"""The local InvokeEndpoint, driven by a real boto3 sagemaker-runtime client (signing, parsing included)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from deploy.local.chain import free_port, process_server
from deploy.local.endpoint import Endpoint, LocalEndpointServer

ROW = b"UA,1545,EWR,IAH,2013-11-05,0515,0819,1400\n"


@pytest.fixture(scope="module")
def model_url(model_dir: Path) -> Iterator[str]:
    with process_server(model_dir, free_port()) as url:
        yield url


@pytest.fixture(scope="module")
def endpoint(model_url: str) -> Iterator[LocalEndpointServer]:
    server = LocalEndpointServer(
        0, [Endpoint("flights", model_url), Endpoint("gone", f"http://127.0.0.1:{free_port()}")]
    )
    server.start()
    yield server
    server.shutdown()


@pytest.fixture
def runtime(endpoint: LocalEndpointServer, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "local")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "local")
    return boto3.client(
        "sagemaker-runtime",
        region_name="us-east-1",
        endpoint_url=endpoint.url,
        config=Config(retries={"max_attempts": 1, "mode": "standard"}),
    )


def test_invoke_returns_the_model_answer(runtime: Any) -> None:
    response = runtime.invoke_endpoint(
        EndpointName="flights", ContentType="text/csv", Accept="application/json", Body=ROW, CustomAttributes="trace=1"
    )
    assert response["ContentType"] == "application/json"
    assert response["InvokedProductionVariant"] == "AllTraffic"
    assert response["CustomAttributes"] == "trace=1"
    assert json.loads(response["Body"].read())["predictions"][0]["prediction"] in ("delay", "no delay")


def test_a_container_4xx_is_a_model_error_with_the_original_status(runtime: Any) -> None:
    with pytest.raises(ClientError) as caught:
        runtime.invoke_endpoint(EndpointName="flights", ContentType="text/csv", Body=b"UA,1,EWR\n")
    error = caught.value.response
    assert error["Error"]["Code"] == "ModelError"
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 424
    assert error["OriginalStatusCode"] == 400
    assert json.loads(error["OriginalMessage"])["error"] == "invalid input"


def test_unknown_endpoint_is_a_validation_error(runtime: Any) -> None:
    with pytest.raises(ClientError) as caught:
        runtime.invoke_endpoint(EndpointName="nope", ContentType="text/csv", Body=ROW)
    assert caught.value.response["Error"]["Code"] == "ValidationError"
    assert "Endpoint nope not found" in caught.value.response["Error"]["Message"]


def test_unreachable_model_server_is_service_unavailable(runtime: Any) -> None:
    with pytest.raises(ClientError) as caught:
        runtime.invoke_endpoint(EndpointName="gone", ContentType="text/csv", Body=ROW)
    assert caught.value.response["Error"]["Code"] == "ServiceUnavailable"


def test_unsigned_requests_are_refused(endpoint: LocalEndpointServer) -> None:
    request = urllib.request.Request(
        f"{endpoint.url}/endpoints/flights/invocations", data=ROW, headers={"Content-Type": "text/csv"}
    )
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=5)
    assert caught.value.code == 403
