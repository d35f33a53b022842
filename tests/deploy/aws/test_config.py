"""Settings: defaults that work, a file, --set and flags in that order, and AWS's limits checked before any call."""

from __future__ import annotations

from pathlib import Path

import pytest

from delaycast.errors import ConfigError
from deploy.aws.config import (
    SERVERLESS_MEMORY_MB,
    Instances,
    S3Location,
    Serverless,
    load_config,
    parse_s3_uri,
    serverless_variant,
)


def test_defaults_work() -> None:
    config = load_config(root=Path("/repo"))

    assert (config.region, config.stack) == ("us-east-1", "delaycast")
    assert config.variant == Serverless(memory_mb=2048, max_concurrency=5)
    assert config.model_dir == Path("/repo/build/ml/model")
    assert config.function.timeout_seconds == 25
    assert config.batch.input is None


def test_file_then_set_then_flags(tmp_path: Path) -> None:
    path = tmp_path / "prod.toml"
    path.write_text('stack = "from-file"\n[endpoint]\nmode = "instance"\n[endpoint.instance]\nmax_count = 3\n')

    config = load_config(path, ["endpoint.instance.max_count=5", "stack=from-set"], {"stack": "from-flag"})

    assert config.stack == "from-flag"
    assert isinstance(config.variant, Instances)
    assert config.variant.max_count == 5
    assert config.variant.instance_type == "ml.m5.large"


@pytest.mark.parametrize("memory", SERVERLESS_MEMORY_MB)
def test_serverless_memory_in_1024_steps_is_accepted(memory: int) -> None:
    assert serverless_variant(memory, 1).memory_mb == memory


@pytest.mark.parametrize("memory", [0, 512, 1000, 1500, 2047, 7168, 8192])
def test_other_serverless_memory_is_refused(memory: int) -> None:
    # moto refuses these too, but only once create_endpoint_config is called: we refuse before any call.
    with pytest.raises(ConfigError, match="memory_mb must be one of 1024, 2048, 3072, 4096, 5120, 6144"):
        serverless_variant(memory, 5)


@pytest.mark.parametrize("concurrency", [0, 201])
def test_serverless_concurrency_outside_1_to_200_is_refused(concurrency: int) -> None:
    # moto accepts MaxConcurrency=500: this check is ours alone.
    with pytest.raises(ConfigError, match="max_concurrency must be from 1 to 200"):
        serverless_variant(2048, concurrency)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("endpoint.mode='gpu'", "endpoint.mode must be 'serverless' or 'instance'"),
        ("endpoint.instance.min_count=3", "need min_count <= initial_count <= max_count"),
        ("endpoint.instance.type='m5.large'", "endpoint.instance.type must be such as ml.m5.large"),
        ("log_retention_days=10", "log_retention_days must be one of 1, 3, 5"),
        ("function.architecture='sparc'", "function.architecture must be one of"),
        ("api.throttle_rate=0", "api.throttle_rate must be above 0"),
        ("region='mars'", "region must be an AWS region"),
        ("stack='a'", "stack must be 2-20"),
        ("stack='delaycast-'", "stack must be 2-20"),
        ("bucket='Bad_Bucket'", "bucket must be an S3 bucket name"),
        ("batch.input='flights/'", "batch.input must be an S3 prefix"),
        ("function.memory_mb='big'", "function.memory_mb must be an integer"),
        ("endpoint=3", "endpoint is a section"),
        ("nonsense", "expected SECTION.KEY=VALUE"),
    ],
)
def test_bad_values_are_refused_naming_the_key(override: str, message: str) -> None:
    overrides = [override, "endpoint.mode='instance'"] if override.startswith("endpoint.instance") else [override]
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        load_config(overrides=overrides)


def test_unreadable_or_invalid_file_is_named(tmp_path: Path) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text("stack = ")
    with pytest.raises(ConfigError, match=r"broken\.toml: not valid TOML"):
        load_config(broken)
    with pytest.raises(ConfigError, match=r"missing\.toml: cannot be read"):
        load_config(tmp_path / "missing.toml")


def test_s3_prefixes_end_with_a_slash() -> None:
    assert parse_s3_uri("s3://flights/2013", "x") == S3Location("flights", "2013/")
    assert parse_s3_uri("s3://flights/", "x").uri == "s3://flights/"
