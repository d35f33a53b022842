"""The command line without AWS: --dry-run and `plan` print every resource and call nothing."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import botocore.client
import botocore.endpoint
import pytest

from deploy.aws.cli import main
from tests.deploy.aws.support import write_model


@pytest.fixture
def no_aws(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """No credentials; every botocore API call and HTTP request is recorded and refused, whatever client makes it."""
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    attempts: list[str] = []

    def refuse(*args: Any, **kwargs: Any) -> None:
        attempts.append(repr(args[1:2]))
        raise AssertionError("an AWS call in a dry run")

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", refuse)
    monkeypatch.setattr(botocore.endpoint.Endpoint, "make_request", refuse)
    return attempts


def dry_run(*args: str, model: Path, work: Path) -> tuple[int, str]:
    """main() with the real Services (boto3's default chain): only the patches stand between it and AWS."""
    out = io.StringIO()
    code = main([*args, "--model-dir", str(model), "--set", f"work_dir='{work}'"], out=out)
    return code, out.getvalue()


KINDS = (
    "ECR repository: delaycast",
    "image: delaycast:git-",
    "S3 bucket: delaycast-<account>-us-east-1",
    "model archive: s3://delaycast-<account>-us-east-1/models/0.1.0-aaaaaaaaaaaa/",
    "IAM role: delaycast-sagemaker",
    "SageMaker model: delaycast-0-1-0-aaaaaaaaaaaa-<hash>",
    "SageMaker endpoint config: delaycast-0-1-0-aaaaaaaaaaaa-<hash>",
    "log group: /aws/sagemaker/Endpoints/delaycast",
    "SageMaker endpoint: delaycast",
    "log group: /aws/lambda/delaycast-predict",
    "IAM role: delaycast-predict",
    "Lambda function: delaycast-predict",
    "HTTP API: delaycast",
    "API integration: <integration-id>",
    "API route: POST /predict",
    "API stage: $default",
    "Lambda permission: delaycast-http-api",
)


@pytest.mark.parametrize("command", [["deploy", "--dry-run"], ["plan"]])
def test_dry_run_prints_every_resource_and_makes_no_aws_call(
    command: list[str], no_aws: list[str], model_dir: Path, tmp_path: Path
) -> None:
    code, out = dry_run(*command, model=model_dir, work=tmp_path)

    assert code == 0, out
    assert no_aws == []
    for kind in KINDS:
        assert kind in out
    assert '"ServerlessConfig": {"MemorySizeInMB": 2048, "MaxConcurrency": 5}' in out
    assert "Timeout: 25" in out
    assert (tmp_path / "delaycast" / "model.tar.gz").is_file()  # built locally, uploaded by deploy only


def test_dry_run_of_the_instance_variant_shows_auto_scaling(no_aws: list[str], model_dir: Path, tmp_path: Path) -> None:
    code, out = dry_run("plan", "--mode", "instance", "--region", "eu-west-1", model=model_dir, work=tmp_path)

    assert code == 0, out
    assert '"InstanceType": "ml.m5.large"' in out
    assert "scalable target: endpoint/delaycast/variant/AllTraffic" in out
    assert '"PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"' in out
    assert 'CreateBucketConfiguration: {"LocationConstraint": "eu-west-1"}' in out
    assert no_aws == []


def test_dry_runs_of_batch_and_teardown_make_no_aws_call(no_aws: list[str], model_dir: Path, tmp_path: Path) -> None:
    batch = dry_run(
        "batch", "--dry-run", "--input", "s3://flights/in/", "--image-uri", IMAGE, model=model_dir, work=tmp_path
    )
    teardown = dry_run("teardown", "--dry-run", "--stack", "dc-test", model=model_dir, work=tmp_path)

    assert batch[0] == teardown[0] == 0
    assert '"SplitType": "Line"' in batch[1]
    assert "BatchStrategy: MULTI_RECORD" in batch[1]
    assert "ECR repository" not in batch[1]  # the given image is used as is
    assert 'deletes only what is tagged {"project": "delaycast", "delaycast:stack": "dc-test"}' in teardown[1]
    assert "named dc-test-*" in teardown[1]
    assert no_aws == []


IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/delaycast@sha256:" + "a" * 64


def test_a_given_image_gives_the_model_a_known_name(no_aws: list[str], model_dir: Path, tmp_path: Path) -> None:
    code, out = dry_run("plan", "--image-uri", IMAGE, "--set", "bucket='my-models'", model=model_dir, work=tmp_path)

    assert code == 0, out
    assert "<hash>" not in out  # image and bucket known: every name is final
    assert f'"Image": "{IMAGE}"' in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--set", "endpoint.serverless.memory_mb=1500"], "endpoint.serverless.memory_mb must be one of 1024, 2048"),
        (["--stack", "Delaycast"], "stack must be 2-20 lowercase letters"),
        (["--set", "endpoint.wait=3"], "unknown setting 'endpoint.wait'"),
        (["--set", "function.timeout_seconds=60"], "function.timeout_seconds must be from 3 to 30"),
    ],
)
def test_bad_settings_exit_2_with_the_key(
    args: list[str],
    message: str,
    no_aws: list[str],
    model_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, _ = dry_run("deploy", *args, model=model_dir, work=tmp_path)

    assert code == 2
    assert message in capsys.readouterr().err
    assert no_aws == []


def test_a_tampered_model_is_refused_before_anything(
    no_aws: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = write_model(tmp_path / "model", "0.1.0-aaaaaaaaaaaa")
    (model / "model.skops").write_bytes(b"changed")

    code, _ = dry_run("deploy", model=model, work=tmp_path / "work")

    assert code == 2
    assert "does not match the manifest" in capsys.readouterr().err
    assert no_aws == []
