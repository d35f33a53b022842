"""Helpers of the AWS deployment tests: moto's account, a recorder of requests, fake docker, model directories."""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from botocore.awsrequest import AWSResponse

from delaycast.artifact import FORMAT
from deploy.aws.artifacts import Revision
from deploy.aws.image import RegistryAuth
from deploy.aws.session import Aws

REGION = "us-east-1"
ACCOUNT = "123456789012"
REVISION = Revision("0123456789ab", dirty=False)
READ_PREFIXES = ("Describe", "Get", "List", "Head", "BatchGet")
# A docker image manifest as `docker push` would upload it (moto stores it; nothing pulls it).
MANIFEST = json.dumps(
    {
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {
            "mediaType": "application/vnd.docker.container.image.v1+json",
            "size": 2,
            "digest": "sha256:" + "0" * 64,
        },
        "layers": [],
    }
)


@dataclass
class Calls:
    """Every request the code under test made: (service, operation, parameters)."""

    made: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)

    def record(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        """before-parameter-build hook: the parameters as the code passed them."""
        self.made.append((model.service_model.service_name, model.name, dict(params)))

    def named(self, operation: str) -> list[dict[str, Any]]:
        """The parameters of each call to `operation`."""
        return [params for _, name, params in self.made if name == operation]

    def mutating(self) -> list[str]:
        """service:Operation of every call that is not a read."""
        return [f"{service}:{name}" for service, name, _ in self.made if not name.startswith(READ_PREFIXES)]

    def clear(self) -> None:
        """Forget what was recorded."""
        self.made.clear()


@dataclass
class FakePusher:
    """Stands in for docker: puts a manifest in ECR under each tag, as `docker push` would.

    Not proven by the tests: that `docker build` succeeds, that the image runs on SageMaker, that
    `docker login` accepts the token (DockerPusher's commands are checked in test_image.py)."""

    aws: Aws
    pushes: list[tuple[Path, str, tuple[str, ...], RegistryAuth]] = field(default_factory=list)

    def push(self, context: Path, repository_uri: str, tags: Sequence[str], auth: RegistryAuth) -> None:
        """Record the push and store the manifest."""
        self.pushes.append((context, repository_uri, tuple(tags), auth))
        ecr = self.aws.client("ecr")
        for tag in tags:
            # Pushing the same image again changes nothing, as with docker.
            with contextlib.suppress(ecr.exceptions.ImageAlreadyExistsException):
                ecr.put_image(repositoryName=repository_uri.rsplit("/", 1)[1], imageManifest=MANIFEST, imageTag=tag)


def write_model(model_dir: Path, version: str) -> Path:
    """A model directory as delaycast.artifact writes it (the model file is a stand-in: nothing loads it here)."""
    model_dir.mkdir(parents=True, exist_ok=True)
    model = f"stand-in for model {version}".encode()
    (model_dir / "model.skops").write_bytes(model)
    manifest = {"format": FORMAT, "model_version": version, "files": {"model.skops": hashlib.sha256(model).hexdigest()}}
    (model_dir / "manifest.json").write_text(json.dumps(manifest))
    return model_dir


Cli = Callable[..., tuple[int, str]]


def answer_in_place_of_moto(session: boto3.Session, event: str, answer: dict[str, Any]) -> list[dict[str, Any]]:
    """Answer an operation moto does not implement (event "service.Operation") and record each request's body.

    The request never reaches moto: a before-call hook answers it. So a test proves the request our
    code sends, not what AWS would do with it."""
    requests: list[dict[str, Any]] = []

    def respond(params: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        requests.append(json.loads(params["body"] or b"{}"))
        return AWSResponse("", 200, {}, None), answer

    session.events.register(f"before-call.{event}", respond)
    return requests


def simulate_update_endpoint(session: boto3.Session) -> list[dict[str, Any]]:
    """Answer UpdateEndpoint (moto lacks it) and have DescribeEndpoint report the new config afterwards,
    as SageMaker would once its blue/green update is done; the requests sent, in order."""
    arn = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint/delaycast"
    updates = answer_in_place_of_moto(session, "sagemaker.UpdateEndpoint", {"EndpointArn": arn})

    def describe(parsed: dict[str, Any], **_: Any) -> None:
        if updates and parsed.get("EndpointName") == updates[-1]["EndpointName"]:
            parsed["EndpointConfigName"] = updates[-1]["EndpointConfigName"]

    session.events.register("after-call.sagemaker.DescribeEndpoint", describe)
    return updates
