"""The serverless worker count: bounded by the memory formula of docs/serving.md, not by CPUs the container cannot
count."""

from __future__ import annotations

import pytest

from deploy.aws.config import SERVERLESS_MEMORY_MB, Instances, Serverless
from deploy.aws.endpoint import (
    MEMORY_HEADROOM,
    model_environment,
    model_name,
    model_request,
    peak_memory_mb,
    serverless_workers,
)
from deploy.aws.names import Names


def test_the_formula_is_the_documented_one() -> None:
    assert peak_memory_mb(2, threads=4) == 946
    assert peak_memory_mb(2, threads=8) == 1002
    assert peak_memory_mb(1, threads=4, body_mib=3) == 150 + 199


@pytest.mark.parametrize(
    ("memory_mb", "max_concurrency", "workers"),
    [(1024, 5, 1), (2048, 5, 4), (3072, 5, 5), (6144, 5, 5), (6144, 200, 13), (2048, 1, 1), (2048, 2, 2)],
)
def test_serverless_workers(memory_mb: int, max_concurrency: int, workers: int) -> None:
    assert serverless_workers(Serverless(memory_mb, max_concurrency)) == workers


@pytest.mark.parametrize("memory_mb", SERVERLESS_MEMORY_MB)
def test_every_serverless_size_keeps_the_peak_within_its_headroom(memory_mb: int) -> None:
    workers = serverless_workers(Serverless(memory_mb, 200))
    assert peak_memory_mb(workers) <= MEMORY_HEADROOM * memory_mb
    assert peak_memory_mb(workers + 1) > MEMORY_HEADROOM * memory_mb


def test_serverless_models_name_their_workers_and_instance_models_nothing() -> None:
    assert model_environment(Serverless(2048, 5)) == {"SAGEMAKER_MODEL_SERVER_WORKERS": "4"}
    assert model_environment(Instances("ml.m5.large", 1, 1, 2, 100, 300, 60)) == {}


def test_the_environment_is_part_of_the_model_and_its_name() -> None:
    names = Names("delaycast", "us-east-1", "123456789012")
    small, large = (model_environment(Serverless(memory, 5)) for memory in (1024, 4096))
    named = {model_name(names, "0.1.0", "image", "s3://b/m", environment) for environment in (small, large, {}, {})}
    assert len(named) == 3
    request = model_request(names, "m", "image", "s3://b/m", "arn:role", small)
    assert request["PrimaryContainer"]["Environment"] == {"SAGEMAKER_MODEL_SERVER_WORKERS": "1"}
    assert "Environment" not in model_request(names, "m", "image", "s3://b/m", "arn:role", {})["PrimaryContainer"]
