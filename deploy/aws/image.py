"""The image in ECR: repository created if absent, built and pushed once per git revision, used by digest.

SageMaker models name the image by digest (REPO@sha256:...), so a model never
changes under a moved tag. The build and push are `docker` subprocesses
behind the Pusher protocol; the registry password goes to `docker login` on
standard input and is never printed or put on a command line.
"""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from deploy.aws.artifacts import Revision
from deploy.aws.names import Names, tag_list
from deploy.aws.session import Context, DeployError, absent_on

SERVING_TARGET = "serve"  # the Dockerfile stage an endpoint runs (docs/container.md)
# SageMaker runs x86_64 images (Graviton instances aside); buildx's default provenance attestation
# would push an image index, which SageMaker refuses: BUILDX_NO_DEFAULT_ATTESTATIONS turns it off.
PLATFORM = "linux/amd64"


@dataclass(frozen=True)
class RegistryAuth:
    """Credentials for `docker login`, from ecr:GetAuthorizationToken (valid 12 hours)."""

    registry: str
    username: str
    password: str = field(repr=False)


class Pusher(Protocol):
    """Builds the image in `context` and pushes it to `repository_uri` under every tag."""

    def push(self, context: Path, repository_uri: str, tags: Sequence[str], auth: RegistryAuth) -> None:
        """Build, tag and push."""
        ...


class DockerPusher:
    """`docker login`, `docker build`, `docker push`, `docker logout`."""

    def push(self, context: Path, repository_uri: str, tags: Sequence[str], auth: RegistryAuth) -> None:
        """Build the Dockerfile's serving image (target `serve`: what an endpoint runs, without scikit-learn) in
        `context` for linux/amd64 and push it under each tag."""
        if shutil.which("docker") is None:
            raise DeployError("docker is not installed: build and push the image elsewhere and pass --image-uri")
        _docker("login", "--username", auth.username, "--password-stdin", auth.registry, stdin=auth.password)
        try:
            names = [arg for tag in tags for arg in ("--tag", f"{repository_uri}:{tag}")]
            _docker("build", "--platform", PLATFORM, "--target", SERVING_TARGET, *names, str(context))
            for tag in tags:
                _docker("push", f"{repository_uri}:{tag}")
        finally:
            _docker("logout", auth.registry)


def _docker(*args: str, stdin: str | None = None) -> None:
    env = {**os.environ, "BUILDX_NO_DEFAULT_ATTESTATIONS": "1"}
    done = subprocess.run(["docker", *args], input=stdin, text=True, env=env, check=False)
    if done.returncode:
        raise DeployError(f"docker {args[0]} failed with exit code {done.returncode}")


def repository_request(names: Names) -> dict[str, Any]:
    """CreateRepository: tags may move (git-... is pushed again from a dirty tree), images scanned on push."""
    return {
        "repositoryName": names.repository,
        "imageTagMutability": "MUTABLE",
        "imageScanningConfiguration": {"scanOnPush": True},
        "tags": tag_list(names.tags),
    }


def image_tags(revision: Revision, model_version: str) -> list[str]:
    """The tags of the image: the git revision it was built from, and the model version it serves."""
    return [revision.tag, f"model-{model_version}"]


def ensure_image(ctx: Context, revision: Revision, model_version: str, pusher: Pusher) -> str:
    """The image URI by digest: the configured one, or the repository's image for this revision (pushed if absent)."""
    if ctx.config.image_uri:
        ctx.report("unchanged", "image", ctx.config.image_uri, "given in the configuration")
        return ctx.config.image_uri
    repository_uri = ensure_repository(ctx)
    tags = image_tags(revision, model_version)
    digest = image_digest(ctx, tags[0])
    if digest is None or revision.dirty:
        pusher.push(ctx.config.image_context, repository_uri, tags, registry_auth(ctx))
        digest = image_digest(ctx, tags[0])
        if digest is None:
            raise DeployError(f"pushed {repository_uri}:{tags[0]} but ECR does not list it")
        ctx.report("created", "image", f"{repository_uri}:{tags[0]}", f"tags {', '.join(tags)}")
    else:
        _ensure_tag(ctx, digest, tags[1])
        ctx.report("unchanged", "image", f"{repository_uri}:{tags[0]}", digest)
    return f"{repository_uri}@{digest}"


def ensure_repository(ctx: Context) -> str:
    """The repository's URI, creating the repository when it is absent."""
    ecr = ctx.client("ecr")
    name = ctx.names.repository
    found = absent_on(
        ("RepositoryNotFoundException",), lambda: ecr.describe_repositories(repositoryNames=[name])["repositories"]
    )
    if found:
        ctx.report("unchanged", "ECR repository", name)
        return str(found[0]["repositoryUri"])
    created = ecr.create_repository(**repository_request(ctx.names))["repository"]
    ctx.report("created", "ECR repository", name)
    return str(created["repositoryUri"])


def image_digest(ctx: Context, tag: str) -> str | None:
    """The digest of the repository's image tagged `tag`, or None."""
    images = absent_on(
        ("ImageNotFoundException",),
        lambda: ctx.client("ecr").describe_images(repositoryName=ctx.names.repository, imageIds=[{"imageTag": tag}])[
            "imageDetails"
        ],
    )
    return str(images[0]["imageDigest"]) if images else None


def _ensure_tag(ctx: Context, digest: str, tag: str) -> None:
    """Tag an image already in ECR through the API (no docker needed): put its manifest under `tag`."""
    if image_digest(ctx, tag) == digest:
        return
    ecr = ctx.client("ecr")
    image = ecr.batch_get_image(repositoryName=ctx.names.repository, imageIds=[{"imageDigest": digest}])["images"][0]
    ecr.put_image(repositoryName=ctx.names.repository, imageManifest=image["imageManifest"], imageTag=tag)
    ctx.report("updated", "image tag", f"{ctx.names.repository}:{tag}", digest)


def registry_auth(ctx: Context) -> RegistryAuth:
    """Credentials for the account's registry from ecr:GetAuthorizationToken."""
    data = ctx.client("ecr").get_authorization_token()["authorizationData"][0]
    username, _, password = base64.b64decode(data["authorizationToken"]).decode().partition(":")
    return RegistryAuth(data["proxyEndpoint"].removeprefix("https://"), username, password)
