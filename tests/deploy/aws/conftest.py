"""Fixtures: moto's real HTTP server on 127.0.0.1, boto3 pointed at it, a small model directory, fake docker.

moto is reset before every test, so each one deploys into an empty account
(123456789012, us-east-1). Calls are recorded by an event hook on the boto3
session, so tests can say which requests were (not) sent.
"""

from __future__ import annotations

import io
import logging
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import boto3
import pytest
from moto.server import ThreadedMotoServer

from deploy.aws.cli import Services, main
from deploy.aws.config import Config
from deploy.aws.session import Aws
from tests.deploy.aws.support import REGION, REVISION, Calls, Cli, FakePusher, write_model

AWS_VARIABLES = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_ENDPOINT_URL",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "http_proxy",
    "https_proxy",
)


@pytest.fixture(scope="session")
def moto_url() -> Iterator[str]:
    """moto's server on 127.0.0.1 and a free port, for the whole session (its request log kept quiet)."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture(autouse=True)
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Dummy credentials; no profile, shared file, instance metadata or proxy can be used."""
    for name in AWS_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture
def moto(moto_url: str) -> str:
    """The server's URL, its state emptied first."""
    urllib.request.urlopen(urllib.request.Request(f"{moto_url}/moto-api/reset", method="POST"), timeout=10).close()
    return moto_url


@pytest.fixture
def session(moto: str) -> boto3.Session:
    """The boto3 session every client of a test comes from (so hooks registered on it see every call)."""
    return boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION)


@pytest.fixture
def calls(session: boto3.Session) -> Calls:
    """Records every request made through `session`."""
    recorder = Calls()
    session.events.register("before-parameter-build", recorder.record)
    return recorder


@pytest.fixture
def aws(session: boto3.Session, moto: str) -> Aws:
    """Clients on moto, for the test's own checks."""
    return Aws(session, endpoint_url=moto)


@pytest.fixture
def pusher(aws: Aws) -> FakePusher:
    """The fake docker."""
    return FakePusher(aws)


@pytest.fixture
def services(session: boto3.Session, moto: str, pusher: FakePusher, calls: Calls) -> Services:
    """The CLI's outside world: AWS is moto, docker is FakePusher, git is REVISION, waiting takes no time."""

    def on_moto(config: Config) -> Aws:
        assert config.region == REGION
        return Aws(session, endpoint_url=moto)

    return Services(
        aws=on_moto,
        pusher=pusher,
        revision=lambda: REVISION,
        sleep=lambda seconds: None,
        now=lambda: datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        confirm=lambda prompt: "",
    )


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    """A small model directory, version 0.1.0-aaaaaaaaaaaa."""
    return write_model(tmp_path / "model", "0.1.0-aaaaaaaaaaaa")


@pytest.fixture
def cli(services: Services, tmp_path: Path, model_dir: Path) -> Cli:
    """Run `python -m deploy.aws ARGS` in-process on moto; (exit code, stdout)."""

    def run(*args: str, model: Path = model_dir, using: Services = services) -> tuple[int, str]:
        out = io.StringIO()
        argv = [*args, "--model-dir", str(model), "--set", f"work_dir='{tmp_path / 'work'}'"]
        return main(argv, using, out), out.getvalue()

    return run
