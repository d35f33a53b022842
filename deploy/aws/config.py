"""Deployment settings: defaults.toml, then an optional file of the same shape, then flags; read once and validated.

Unknown keys, values of the wrong type and values AWS would refuse are a
ConfigError naming the key, before anything is called.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from delaycast.errors import ConfigError

DEFAULTS = Path(__file__).with_name("defaults.toml")
STACK_PATTERN = re.compile(r"[a-z][a-z0-9-]{0,18}[a-z0-9]")
REGION_PATTERN = re.compile(r"[a-z]{2}(-[a-z]+)+-[0-9]")
INSTANCE_TYPE_PATTERN = re.compile(r"ml\.[a-z0-9]+\.[a-z0-9]+")
BUCKET_PATTERN = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
S3_URI_PATTERN = re.compile(r"s3://([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])/(.*)")
SERVERLESS_MEMORY_MB = (1024, 2048, 3072, 4096, 5120, 6144)
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922)
ARCHITECTURES = ("arm64", "x86_64")
TYPE_NAMES = {str: "a string", int: "an integer", float: "a number"}


@dataclass(frozen=True)
class Serverless:
    """A serverless variant: memory and concurrency, billed per request."""

    memory_mb: int
    max_concurrency: int


@dataclass(frozen=True)
class Instances:
    """An instance-backed variant with target-tracking auto scaling on invocations per instance."""

    instance_type: str
    initial_count: int
    min_count: int
    max_count: int
    invocations_per_instance: int
    scale_in_cooldown: int
    scale_out_cooldown: int


@dataclass(frozen=True)
class FunctionSettings:
    """The Lambda function and its log group."""

    memory_mb: int
    timeout_seconds: int
    architecture: str
    max_batch: int
    endpoint_timeout_seconds: int


@dataclass(frozen=True)
class ApiSettings:
    """The HTTP API's CORS origin and stage throttling."""

    cors_allow_origin: str
    throttle_burst: int
    throttle_rate: float


@dataclass(frozen=True)
class S3Location:
    """A bucket and a key prefix."""

    bucket: str
    prefix: str

    @property
    def uri(self) -> str:
        """s3://bucket/prefix"""
        return f"s3://{self.bucket}/{self.prefix}"


@dataclass(frozen=True)
class BatchSettings:
    """Batch Transform: where the CSV comes from and goes to, and on what."""

    input: S3Location | None
    output: S3Location | None
    instance_type: str
    instance_count: int
    max_payload_mb: int


@dataclass(frozen=True)
class Config:
    """Everything a deployment is told, validated."""

    region: str
    stack: str
    model_dir: Path
    work_dir: Path
    bucket: str
    log_retention_days: int
    image_uri: str
    image_context: Path
    variant: Serverless | Instances
    wait_minutes: int
    function: FunctionSettings
    api: ApiSettings
    batch: BatchSettings


def load_config(
    path: Path | None = None,
    overrides: Sequence[str] = (),
    flags: Mapping[str, Any] | None = None,
    root: Path = Path(),
) -> Config:
    """Defaults, then the file at `path`, then `overrides` ("section.key=value"), then `flags` (a mapping of the
    same shape); relative paths are taken from `root`."""
    merged = _read_toml(DEFAULTS)
    if path is not None:
        merged = merge(merged, _read_toml(path), str(path))
    for item in overrides:
        merged = merge(merged, parse_override(item), f"--set {item}")
    return build_config(merge(merged, flags or {}, "command line"), root)


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text())
    except OSError as error:
        raise ConfigError(f"{path}: cannot be read ({error.strerror})") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: not valid TOML ({error})") from None


def parse_override(item: str) -> dict[str, Any]:
    """ "endpoint.serverless.memory_mb=3072" as a nested mapping; the value is TOML, or else a string."""
    key, sep, text = item.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set {item!r}: expected SECTION.KEY=VALUE")
    try:
        value: Any = tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        value = text
    for part in reversed(key.strip().split(".")):
        value = {part: value}
    return dict(value)


def merge(base: Mapping[str, Any], override: Mapping[str, Any], source: str, prefix: str = "") -> dict[str, Any]:
    """`base` with `override` laid over it; keys must exist in `base` and values keep their type."""
    merged = dict(base)
    for key, value in override.items():
        name = f"{prefix}{key}"
        if key not in base:
            raise ConfigError(f"{source}: unknown setting {name!r}")
        current = base[key]
        if isinstance(current, dict):
            if not isinstance(value, dict):
                raise ConfigError(f"{source}: {name} is a section, not a value")
            merged[key] = merge(current, value, source, f"{name}.")
        elif isinstance(current, float) and isinstance(value, int) and not isinstance(value, bool):
            merged[key] = float(value)
        elif type(value) is not type(current):
            raise ConfigError(f"{source}: {name} must be {TYPE_NAMES[type(current)]}, got {value!r}")
        else:
            merged[key] = value
    return merged


def build_config(values: Mapping[str, Any], root: Path) -> Config:
    """A Config from merged values, every setting checked."""
    stack = _matching(
        values["stack"], STACK_PATTERN, "stack", "2-20 lowercase letters, digits and hyphens, starting with a letter"
    )
    endpoint = values["endpoint"]
    bucket = values["bucket"] and _matching(values["bucket"], BUCKET_PATTERN, "bucket", "an S3 bucket name")
    return Config(
        region=_matching(values["region"], REGION_PATTERN, "region", "an AWS region such as us-east-1"),
        stack=stack,
        model_dir=root / values["model_dir"],
        work_dir=root / values["work_dir"],
        bucket=bucket,
        log_retention_days=_retention(values["log_retention_days"]),
        image_uri=values["image"]["uri"],
        image_context=root / values["image"]["context"],
        variant=_variant(endpoint),
        wait_minutes=_between(endpoint["wait_minutes"], 1, 180, "endpoint.wait_minutes"),
        function=_function(values["function"]),
        api=_api(values["api"]),
        batch=_batch(values["batch"]),
    )


def _variant(endpoint: Mapping[str, Any]) -> Serverless | Instances:
    mode = endpoint["mode"]
    if mode == "serverless":
        return serverless_variant(endpoint["serverless"]["memory_mb"], endpoint["serverless"]["max_concurrency"])
    if mode == "instance":
        return _instances(endpoint["instance"])
    raise ConfigError(f"endpoint.mode must be 'serverless' or 'instance', got {mode!r}")


def serverless_variant(memory_mb: int, max_concurrency: int) -> Serverless:
    """A serverless variant, refused unless memory is 1024-6144 MB in 1024 MB steps and concurrency 1-200."""
    if memory_mb not in SERVERLESS_MEMORY_MB:
        raise ConfigError(
            f"endpoint.serverless.memory_mb must be one of {', '.join(map(str, SERVERLESS_MEMORY_MB))}, got {memory_mb}"
        )
    return Serverless(memory_mb, _between(max_concurrency, 1, 200, "endpoint.serverless.max_concurrency"))


def _instances(values: Mapping[str, Any]) -> Instances:
    name = "endpoint.instance"
    variant = Instances(
        instance_type=_matching(values["type"], INSTANCE_TYPE_PATTERN, f"{name}.type", "such as ml.m5.large"),
        initial_count=_between(values["initial_count"], 1, 100, f"{name}.initial_count"),
        min_count=_between(values["min_count"], 1, 100, f"{name}.min_count"),
        max_count=_between(values["max_count"], 1, 100, f"{name}.max_count"),
        invocations_per_instance=_between(
            values["invocations_per_instance"], 1, 100_000, f"{name}.invocations_per_instance"
        ),
        scale_in_cooldown=_between(values["scale_in_cooldown"], 0, 3600, f"{name}.scale_in_cooldown"),
        scale_out_cooldown=_between(values["scale_out_cooldown"], 0, 3600, f"{name}.scale_out_cooldown"),
    )
    if not variant.min_count <= variant.initial_count <= variant.max_count:
        raise ConfigError(f"{name}: need min_count <= initial_count <= max_count")
    return variant


def _retention(days: int) -> int:
    if days not in LOG_RETENTION_DAYS:
        raise ConfigError(f"log_retention_days must be one of {', '.join(map(str, LOG_RETENTION_DAYS))}, got {days}")
    return days


def _function(values: Mapping[str, Any]) -> FunctionSettings:
    if values["architecture"] not in ARCHITECTURES:
        raise ConfigError(f"function.architecture must be one of {ARCHITECTURES}, got {values['architecture']!r}")
    return FunctionSettings(
        memory_mb=_between(values["memory_mb"], 128, 10_240, "function.memory_mb"),
        # HTTP APIs wait at most 30 s for an integration.
        timeout_seconds=_between(values["timeout_seconds"], 3, 30, "function.timeout_seconds"),
        architecture=values["architecture"],
        max_batch=_between(values["max_batch"], 1, 10_000, "function.max_batch"),
        endpoint_timeout_seconds=_between(
            values["endpoint_timeout_seconds"], 1, 60, "function.endpoint_timeout_seconds"
        ),
    )


def _api(values: Mapping[str, Any]) -> ApiSettings:
    if not values["cors_allow_origin"]:
        raise ConfigError("api.cors_allow_origin must be '*' or an origin such as https://example.com")
    rate = values["throttle_rate"]
    if not 0 < rate <= 10_000:
        raise ConfigError(f"api.throttle_rate must be above 0 and at most 10000 requests per second, got {rate}")
    return ApiSettings(
        cors_allow_origin=values["cors_allow_origin"],
        throttle_burst=_between(values["throttle_burst"], 1, 5000, "api.throttle_burst"),
        throttle_rate=rate,
    )


def _batch(values: Mapping[str, Any]) -> BatchSettings:
    return BatchSettings(
        input=_optional_s3(values["input"], "batch.input"),
        output=_optional_s3(values["output"], "batch.output"),
        instance_type=_matching(
            values["instance_type"], INSTANCE_TYPE_PATTERN, "batch.instance_type", "such as ml.m5.large"
        ),
        instance_count=_between(values["instance_count"], 1, 100, "batch.instance_count"),
        max_payload_mb=_between(values["max_payload_mb"], 1, 100, "batch.max_payload_mb"),
    )


def _optional_s3(uri: str, name: str) -> S3Location | None:
    return parse_s3_uri(uri, name) if uri else None


def parse_s3_uri(uri: str, name: str) -> S3Location:
    """s3://bucket/prefix/ as an S3Location; the prefix ends with "/"."""
    match = S3_URI_PATTERN.fullmatch(uri)
    if match is None:
        raise ConfigError(f"{name} must be an S3 prefix such as s3://my-bucket/flights/, got {uri!r}")
    prefix = match.group(2)
    return S3Location(match.group(1), prefix if not prefix or prefix.endswith("/") else prefix + "/")


def _between(value: int, low: int, high: int, name: str) -> int:
    if not low <= value <= high:
        raise ConfigError(f"{name} must be from {low} to {high}, got {value}")
    return value


def _matching(value: str, pattern: re.Pattern[str], name: str, expected: str) -> str:
    if not pattern.fullmatch(value):
        raise ConfigError(f"{name} must be {expected}, got {value!r}")
    return value
