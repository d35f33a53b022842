"""Waiting for the endpoint and for batch jobs: progress, and SageMaker's FailureReason when it fails.

moto's endpoints are InService at once, so these answers are scripted with botocore's Stubber:
they prove how our code reads DescribeEndpoint / DescribeTransformJob, not what SageMaker sends.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from deploy.aws.batch import wait_for_transform
from deploy.aws.config import load_config
from deploy.aws.endpoint import wait_for_endpoint
from deploy.aws.names import Names
from deploy.aws.session import Aws, Context, DeployError, Report

ARN = "arn:aws:sagemaker:us-east-1:123456789012:endpoint/delaycast"


class StubbedAws(Aws):
    """One stubbed SageMaker client."""

    def __init__(self, client: Any) -> None:
        super().__init__(boto3.Session(region_name="us-east-1"))
        self.stubbed = client

    def client(self, service: str) -> Any:
        assert service == "sagemaker"
        return self.stubbed


@pytest.fixture
def stub() -> Iterator[Stubber]:
    client = boto3.Session(region_name="us-east-1").client("sagemaker")
    with Stubber(client) as stubber:
        yield stubber
        stubber.assert_no_pending_responses()


def context(stub: Stubber, wait_minutes: int = 30) -> tuple[Context, io.StringIO, list[float]]:
    config = load_config(overrides=[f"endpoint.wait_minutes={wait_minutes}"])
    out = io.StringIO()
    slept: list[float] = []
    ctx = Context(config, Names.of(config, "123456789012"), StubbedAws(stub.client), Report(out), slept.append, 60.0)
    return ctx, out, slept


def endpoint(status: str, config: str = "new", reason: str | None = None) -> dict[str, Any]:
    answer = {
        "EndpointName": "delaycast",
        "EndpointArn": ARN,
        "EndpointConfigName": config,
        "EndpointStatus": status,
        "CreationTime": "2026-01-01T00:00:00Z",
        "LastModifiedTime": "2026-01-01T00:00:00Z",
    }
    return answer | ({"FailureReason": reason} if reason else {})


def test_progress_until_in_service(stub: Stubber) -> None:
    for status in ("Creating", "Creating", "InService"):
        stub.add_response("describe_endpoint", endpoint(status), {"EndpointName": "delaycast"})
    ctx, out, slept = context(stub)

    wait_for_endpoint(ctx, "delaycast", "new")

    assert slept == [60.0, 60.0]
    assert "endpoint delaycast: Creating, 1.0 min so far" in out.getvalue()
    assert out.getvalue().rstrip().endswith("endpoint delaycast: InService")


def test_a_failed_endpoint_says_why(stub: Stubber) -> None:
    reason = "The primary container for production variant AllTraffic did not pass the ping health check."
    stub.add_response("describe_endpoint", endpoint("Creating"), {"EndpointName": "delaycast"})
    stub.add_response("describe_endpoint", endpoint("Failed", reason=reason), {"EndpointName": "delaycast"})
    ctx, _, _ = context(stub)

    with pytest.raises(DeployError, match="endpoint delaycast is Failed: The primary container"):
        wait_for_endpoint(ctx, "delaycast", "new")


def test_a_rolled_back_update_is_a_failure(stub: Stubber) -> None:
    # A failed UpdateEndpoint leaves the endpoint InService on its old config, with a FailureReason.
    answer = endpoint("InService", config="old", reason="Image not found")
    stub.add_response("describe_endpoint", answer, {"EndpointName": "delaycast"})
    ctx, _, _ = context(stub)

    with pytest.raises(DeployError, match="update to new was rolled back: Image not found"):
        wait_for_endpoint(ctx, "delaycast", "new")


def test_waiting_gives_up_after_the_configured_minutes(stub: Stubber) -> None:
    for _ in range(3):
        stub.add_response("describe_endpoint", endpoint("Updating"), {"EndpointName": "delaycast"})
    ctx, _, slept = context(stub, wait_minutes=2)

    with pytest.raises(DeployError, match="still Updating after 2 minutes"):
        wait_for_endpoint(ctx, "delaycast", "new")
    assert slept == [60.0, 60.0]


def test_a_failed_batch_job_says_why(stub: Stubber) -> None:
    job = {
        "TransformJobName": "delaycast-batch-1",
        "TransformJobArn": "arn:aws:sagemaker:us-east-1:123456789012:transform-job/delaycast-batch-1",
        "ModelName": "m",
        "TransformInput": {"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://b/in/"}}},
        "TransformResources": {"InstanceType": "ml.m5.large", "InstanceCount": 1},
        "CreationTime": "2026-01-01T00:00:00Z",
    }
    stub.add_response("describe_transform_job", job | {"TransformJobStatus": "InProgress"})
    stub.add_response(
        "describe_transform_job", job | {"TransformJobStatus": "Failed", "FailureReason": "ClientError: 400"}
    )
    ctx, out, _ = context(stub)

    with pytest.raises(DeployError, match="job delaycast-batch-1 Failed: ClientError: 400"):
        wait_for_transform(ctx, "delaycast-batch-1")
    assert "job delaycast-batch-1: InProgress" in out.getvalue()
