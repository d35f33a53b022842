"""The image step: docker's commands (without docker), ECR's token, a push per revision.

Not proven here: that docker builds the image, that ECR accepts the push, that SageMaker
pulls it (the image itself is tested in tests/container on a real Docker engine).
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from deploy.aws.artifacts import Revision
from deploy.aws.cli import Services
from deploy.aws.image import DockerPusher, RegistryAuth
from deploy.aws.session import DeployError
from tests.deploy.aws.support import Calls, Cli, FakePusher

AUTH = RegistryAuth("123456789012.dkr.ecr.us-east-1.amazonaws.com", "AWS", "s3cr3t-token")
REPOSITORY = "123456789012.dkr.ecr.us-east-1.amazonaws.com/delaycast"


class Docker:
    """Records `docker` commands; fails the one named in `fail`."""

    def __init__(self, fail: str = "") -> None:
        self.commands: list[tuple[list[str], str | None, dict[str, str]]] = []
        self.fail = fail

    def run(self, args: list[str], input: str | None = None, env: dict[str, str] | None = None, **_: Any) -> Any:
        self.commands.append((args, input, env or {}))
        return subprocess.CompletedProcess(args, 1 if args[1] == self.fail else 0)


@pytest.fixture
def docker(monkeypatch: pytest.MonkeyPatch) -> Docker:
    fake = Docker()
    monkeypatch.setattr(shutil, "which", lambda name: f"/usr/bin/{name}")
    monkeypatch.setattr(subprocess, "run", fake.run)
    return fake


def test_docker_logs_in_builds_for_amd64_pushes_each_tag_and_logs_out(docker: Docker) -> None:
    DockerPusher().push(Path("/repo"), REPOSITORY, ["git-abc", "model-1"], AUTH)

    commands = [args for args, _, _ in docker.commands]
    assert commands == [
        ["docker", "login", "--username", "AWS", "--password-stdin", AUTH.registry],
        [
            "docker",
            "build",
            "--platform",
            "linux/amd64",
            "--target",
            "serve",
            "--tag",
            f"{REPOSITORY}:git-abc",
            "--tag",
            f"{REPOSITORY}:model-1",
            "/repo",
        ],
        ["docker", "push", f"{REPOSITORY}:git-abc"],
        ["docker", "push", f"{REPOSITORY}:model-1"],
        ["docker", "logout", AUTH.registry],
    ]
    # The token goes on standard input only: never on a command line, never in a repr.
    assert docker.commands[0][1] == "s3cr3t-token"
    assert all("s3cr3t-token" not in " ".join(args) for args in commands)
    assert "s3cr3t-token" not in repr(AUTH)
    # No provenance attestation: it would make an image index, which SageMaker does not run.
    assert docker.commands[1][2]["BUILDX_NO_DEFAULT_ATTESTATIONS"] == "1"


def test_a_failed_build_still_logs_out(docker: Docker) -> None:
    docker.fail = "build"

    with pytest.raises(DeployError, match="docker build failed"):
        DockerPusher().push(Path("/repo"), REPOSITORY, ["git-abc"], AUTH)
    assert docker.commands[-1][0] == ["docker", "logout", AUTH.registry]


def test_without_docker_the_message_says_what_to_do(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)

    with pytest.raises(DeployError, match="pass --image-uri"):
        DockerPusher().push(Path("/repo"), REPOSITORY, ["git-abc"], AUTH)


def test_a_given_image_skips_ecr_and_docker(cli: Cli, calls: Calls, pusher: FakePusher) -> None:
    given = "123456789012.dkr.ecr.us-east-1.amazonaws.com/elsewhere@sha256:" + "b" * 64

    code, out = cli("deploy", "--image-uri", given)

    assert code == 0, out
    assert pusher.pushes == []
    assert not [c for c in calls.mutating() if c.startswith("ecr:")]
    assert calls.named("CreateModel")[0]["PrimaryContainer"]["Image"] == given


def test_a_dirty_tree_is_pushed_again(cli: Cli, services: Services, pusher: FakePusher) -> None:
    dirty = replace(services, revision=lambda: Revision("0123456789ab", dirty=True))

    assert cli("deploy", using=dirty)[0] == 0
    assert cli("deploy", using=dirty)[0] == 0

    assert [push[2][0] for push in pusher.pushes] == ["git-0123456789ab-dirty"] * 2
    assert pusher.pushes[0][3].username == "AWS"  # from ecr:GetAuthorizationToken
