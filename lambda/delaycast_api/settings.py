"""What the function reads from its environment, once per container."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Self
from urllib.parse import urlsplit

from delaycast.environment import env_number
from delaycast.errors import ConfigError

ENDPOINT_NAME_PATTERN = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}")
TABLE_NAME_PATTERN = re.compile(r"[a-zA-Z0-9_.-]{3,255}")


@dataclass(frozen=True)
class Settings:
    """The endpoint to call, how long to wait for it, the flight store (if any), and the limits and CORS origin of
    the API."""

    endpoint_name: str
    region: str | None = None
    runtime_url: str | None = None
    cors_allow_origin: str = "*"
    max_batch: int = 100
    read_timeout_seconds: float = 10.0
    connect_timeout_seconds: float = 2.0
    max_body_bytes: int = 256 * 1024
    flight_table: str | None = None  # the DynamoDB table of schedules and context; None: full records only
    dynamodb_url: str | None = None
    store_timeout_seconds: float = 1.0  # to connect and to read, each attempt

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Self:
        """Settings from ENDPOINT_NAME (required), AWS_REGION, SAGEMAKER_RUNTIME_URL, CORS_ALLOW_ORIGIN,
        MAX_BATCH, ENDPOINT_TIMEOUT_SECONDS, DELAYCAST_FLIGHT_TABLE, DYNAMODB_URL and STORE_TIMEOUT_SECONDS;
        ConfigError names the bad variable."""
        endpoint = env.get("ENDPOINT_NAME", "").strip()
        if not ENDPOINT_NAME_PATTERN.fullmatch(endpoint):
            raise ConfigError(f"ENDPOINT_NAME must name the SageMaker endpoint to call, got {endpoint!r}")
        table = env.get("DELAYCAST_FLIGHT_TABLE", "").strip() or None
        if table is not None and not TABLE_NAME_PATTERN.fullmatch(table):
            raise ConfigError(f"DELAYCAST_FLIGHT_TABLE must name a DynamoDB table, got {table!r}")
        return cls(
            endpoint_name=endpoint,
            region=env.get("AWS_REGION") or None,
            runtime_url=_url(env, "SAGEMAKER_RUNTIME_URL"),
            cors_allow_origin=env.get("CORS_ALLOW_ORIGIN") or cls.cors_allow_origin,
            max_batch=env_number(env, "MAX_BATCH", cls.max_batch, 1, 10_000),
            read_timeout_seconds=env_number(env, "ENDPOINT_TIMEOUT_SECONDS", cls.read_timeout_seconds, 0.1, 120.0),
            flight_table=table,
            dynamodb_url=_url(env, "DYNAMODB_URL"),
            store_timeout_seconds=env_number(env, "STORE_TIMEOUT_SECONDS", cls.store_timeout_seconds, 0.1, 30.0),
        )


def _url(env: Mapping[str, str], name: str) -> str | None:
    """An http(s) URL from `name`, None when unset; ConfigError for anything else."""
    url = env.get(name) or None
    if url is not None and (urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).netloc):
        raise ConfigError(f"{name} must be an http(s) URL, got {url!r}")
    return url
