"""What every step shares: the clients, the settings, the names, and the report of what changed."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TextIO, TypeVar

import boto3
from botocore.config import Config as BotoConfig
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from delaycast.errors import DelaycastError
from deploy.aws.config import Config
from deploy.aws.names import Names

Action = Literal["created", "updated", "unchanged", "deleted", "stopped", "started"]
Result = TypeVar("Result")


class DeployError(DelaycastError):
    """AWS refused or failed a step; the message says which and why."""

    title = "deployment failed"


class Aws:
    """boto3 clients from one session (the standard credential chain), made once each."""

    def __init__(self, session: boto3.Session, endpoint_url: str | None = None) -> None:
        self.session = session
        self.endpoint_url = endpoint_url
        self._clients: dict[str, Any] = {}
        self._config = BotoConfig(retries={"mode": "standard", "max_attempts": 5})

    def client(self, service: str) -> Any:
        """The client for `service`, created on first use."""
        if service not in self._clients:
            self._clients[service] = self.session.client(service, endpoint_url=self.endpoint_url, config=self._config)
        return self._clients[service]

    def identity(self) -> tuple[str, str]:
        """(account id, partition) of the credentials in use."""
        arn = self.client("sts").get_caller_identity()["Arn"]
        return arn.split(":")[4], arn.split(":")[1]


@dataclass
class Report:
    """Prints each resource's fate as it happens and keeps the list."""

    out: TextIO
    entries: list[tuple[Action, str, str]] = field(default_factory=list)

    def __call__(self, action: Action, kind: str, name: str, detail: str = "") -> None:
        """Record and print one line: what happened to which resource."""
        self.entries.append((action, kind, name))
        print(f"  {action:<9} {kind} {name}" + (f" ({detail})" if detail else ""), file=self.out, flush=True)

    def progress(self, message: str) -> None:
        """A line of progress that changes nothing."""
        print(f"  ...       {message}", file=self.out, flush=True)

    @property
    def changed(self) -> list[tuple[Action, str, str]]:
        """Every entry but the unchanged ones."""
        return [entry for entry in self.entries if entry[0] != "unchanged"]


@dataclass(frozen=True)
class Context:
    """One run: settings read once, the stack's names, the clients, the report, and how to wait."""

    config: Config
    names: Names
    aws: Aws
    report: Report
    sleep: Callable[[float], None] = time.sleep
    poll_seconds: float = 15.0

    def client(self, service: str) -> Any:
        """Shorthand for self.aws.client(service)."""
        return self.aws.client(service)


def failure(error: DelaycastError | ClientError | BotoCoreError) -> str:
    """The one line a command prints for an expected failure: ours, missing credentials, or AWS refusing."""
    if isinstance(error, DelaycastError):
        return error.detail
    if isinstance(error, NoCredentialsError):
        return "no AWS credentials (set AWS_PROFILE, run `aws configure` or `aws sso login`)"
    return f"AWS refused: {error}"


def error_code(error: ClientError) -> str:
    """The AWS error code of a ClientError."""
    return str(error.response.get("Error", {}).get("Code", ""))


def error_message(error: ClientError) -> str:
    """The AWS error message of a ClientError."""
    return str(error.response.get("Error", {}).get("Message", ""))


def absent_on(codes: tuple[str, ...], call: Callable[[], Result]) -> Result | None:
    """`call()`, or None when AWS answers one of `codes` (how each service says "no such resource")."""
    try:
        return call()
    except ClientError as error:
        if error_code(error) in codes:
            return None
        raise


def retry_while(
    ctx: Context, call: Callable[[], Result], retryable: Callable[[ClientError], bool], what: str, attempts: int = 12
) -> Result:
    """`call()`, retried every 5 s while it fails with a retryable error (a new IAM role takes seconds to be usable)."""
    for _ in range(attempts - 1):
        try:
            return call()
        except ClientError as error:
            if not retryable(error):
                raise
            ctx.report.progress(f"{what}: {error_message(error)}; retrying in 5 s")
            ctx.sleep(5)
    return call()


def role_not_ready(error: ClientError) -> bool:
    """The error Lambda and SageMaker give while a new role has not propagated yet."""
    return error_code(error) in ("InvalidParameterValueException", "ValidationException") and (
        "role" in error_message(error).lower()
    )


def differs(desired: Any, actual: Any) -> bool:
    """True when `actual` lacks a value of `desired` (keys `desired` does not name are ignored)."""
    if isinstance(desired, Mapping):
        return not isinstance(actual, Mapping) or any(differs(value, actual.get(key)) for key, value in desired.items())
    if isinstance(desired, list):
        return (
            not isinstance(actual, list)
            or len(desired) != len(actual)
            or any(differs(d, a) for d, a in zip(desired, actual, strict=True))
        )
    return bool(desired != actual)
