"""The plan: every resource a command would create or delete, with the settings it would send. No AWS call.

The settings are the very requests deploy sends (built by the same
functions), with values known only once AWS answers (account id, image
digest, API id) shown as <placeholders>.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from deploy.aws.api import api_request, integration_request, permission_request, route_request, stage_request
from deploy.aws.artifacts import Revision
from deploy.aws.batch import transform_request
from deploy.aws.config import Config, Instances
from deploy.aws.endpoint import (
    endpoint_config_request,
    endpoint_request,
    model_environment,
    model_name,
    model_request,
    scalable_target_request,
    scaling_policy_request,
)
from deploy.aws.function import function_request
from deploy.aws.image import PLATFORM, image_tags, repository_request
from deploy.aws.names import Names
from deploy.aws.roles import POLICY_NAME, function_policy, ingest_policy, role_request, sagemaker_policy
from deploy.aws.stack import INGEST_POLICY_DESCRIPTION, Artifacts
from deploy.aws.storage import PUBLIC_ACCESS_BLOCK, bucket_request, model_data_url, model_object_request
from deploy.aws.table import TTL_SPECIFICATION, table_request

HIDDEN = ("Tags", "tags")  # the same on every resource: printed once in the header


@dataclass(frozen=True)
class Resource:
    """One resource of the plan."""

    kind: str
    name: str
    settings: dict[str, Any]


def image_uri(config: Config, names: Names, revision: Revision) -> str:
    """The configured image, or where deploy will push it (its digest known only after the push)."""
    if config.image_uri:
        return config.image_uri
    registry = f"{names.account}.dkr.ecr.{names.region}.amazonaws.com"
    return f"{registry}/{names.repository}@<digest of {revision.tag}>"


def model_plan(config: Config, names: Names, artifacts: Artifacts, revision: Revision) -> tuple[list[Resource], str]:
    """Image, bucket, archive, SageMaker role and model; and the model's name."""
    resources: list[Resource] = []
    image = image_uri(config, names, revision)
    if not config.image_uri:
        repository = repository_request(names)
        tags = image_tags(revision, artifacts.model.version)
        resources += [
            Resource("ECR repository", names.repository, repository),
            Resource(
                "image",
                f"{names.repository}:{tags[0]}",
                {"build": _shown(config.image_context), "platform": PLATFORM, "image tags": tags},
            ),
        ]
    archive = artifacts.model
    data_url = model_data_url(names, archive)
    role = role_request(names, names.sagemaker_role, "sagemaker.amazonaws.com")
    environment = model_environment(config.variant)
    name = model_name(names, archive.version, image, data_url, environment)
    resources += [
        Resource("S3 bucket", names.bucket, {**bucket_request(names), "PublicAccessBlock": PUBLIC_ACCESS_BLOCK}),
        Resource(
            "model archive",
            data_url,
            {
                **model_object_request(names, archive),
                "from": _shown(archive.path),
                "bytes": archive.size,
                "files": list(archive.files),
            },
        ),
        Resource("IAM role", names.sagemaker_role, {**role, POLICY_NAME: sagemaker_policy(names, config)}),
        Resource(
            "SageMaker model",
            name,
            model_request(names, name, image, data_url, names.role_arn(names.sagemaker_role), environment),
        ),
    ]
    return resources, name


def deploy_plan(config: Config, names: Names, artifacts: Artifacts, revision: Revision) -> list[Resource]:
    """Every resource `deploy` creates."""
    resources, model = model_plan(config, names, artifacts, revision)
    endpoint_config = endpoint_config_request(names, artifacts.model.version, model, config.variant)
    resources += [
        Resource("SageMaker endpoint config", endpoint_config["EndpointConfigName"], endpoint_config),
        _log_group(names.endpoint_log_group, config),
        Resource("SageMaker endpoint", names.endpoint, endpoint_request(names, endpoint_config["EndpointConfigName"])),
    ]
    if isinstance(config.variant, Instances):
        resources += [
            Resource("scalable target", names.scaling_resource, scalable_target_request(names, config.variant)),
            Resource("scaling policy", names.scaling_policy, scaling_policy_request(names, config.variant)),
        ]
    return resources + _store_plan(names) + _function_plan(config, names, artifacts) + _api_plan(config, names)


def _shown(path: Path) -> str:
    """`path` relative to the current directory when it is under it."""
    return str(path.resolve().relative_to(Path.cwd())) if path.resolve().is_relative_to(Path.cwd()) else str(path)


def _log_group(name: str, config: Config) -> Resource:
    return Resource("log group", name, {"retentionInDays": config.log_retention_days})


def _store_plan(names: Names) -> list[Resource]:
    table = {**table_request(names.flight_table, names.tags), "TimeToLiveSpecification": TTL_SPECIFICATION}
    policy = {"Path": "/delaycast/", "Description": INGEST_POLICY_DESCRIPTION, "PolicyDocument": ingest_policy(names)}
    return [
        Resource("DynamoDB table", names.flight_table, table),
        Resource("IAM policy", names.ingest_policy, policy),
    ]


def _function_plan(config: Config, names: Names, artifacts: Artifacts) -> list[Resource]:
    role = role_request(names, names.function, "lambda.amazonaws.com")
    package = artifacts.package
    function = {
        **function_request(names, config, names.role_arn(names.function)),
        "Code": {
            "ZipFile": str(package.path),
            "bytes": package.size,
            "CodeSha256": package.code_sha256,
            "files": list(package.files),
        },
    }
    return [
        _log_group(names.function_log_group, config),
        Resource("IAM role", names.function, {**role, POLICY_NAME: function_policy(names)}),
        Resource("Lambda function", names.function, function),
    ]


def _api_plan(config: Config, names: Names) -> list[Resource]:
    api_id = "<api-id>"
    route = route_request("<integration-id>")
    return [
        Resource("HTTP API", names.api, api_request(names, config)),
        Resource("API integration", "<integration-id>", integration_request(names.function_arn)),
        Resource("API route", route["RouteKey"], route),
        Resource("API stage", "$default", stage_request(names, config)),
        Resource("Lambda permission", f"{names.stack}-http-api", permission_request(names, api_id)),
    ]


def batch_plan(config: Config, names: Names, artifacts: Artifacts, revision: Revision, job: str) -> list[Resource]:
    """What `batch` creates: the model's resources, then the job."""
    resources, model = model_plan(config, names, artifacts, revision)
    return [*resources, Resource("Batch Transform job", job, transform_request(names, config, model, job))]


def teardown_plan(names: Names) -> list[Resource]:
    """What `teardown` looks for, kind by kind; only what carries the stack's tags is deleted."""
    prefix = f"{names.stack}-*"
    return [
        Resource(kind, "", {"searched": searched})
        for kind, searched in (
            ("HTTP APIs", "all, by their tags"),
            ("Lambda functions", f"named {prefix}"),
            ("SageMaker endpoints (and their auto scaling)", f"named *{names.stack}*"),
            ("SageMaker endpoint configs", f"named *{names.stack}*"),
            ("SageMaker models", f"named *{names.stack}*"),
            ("Batch Transform jobs in progress (stopped, not deleted)", f"named *{names.stack}*"),
            ("DynamoDB tables", f"named {prefix}"),
            ("log groups", f"named /aws/lambda/{prefix} or /aws/sagemaker/Endpoints/{names.stack}*"),
            ("IAM roles (inline policies first)", f"under path /delaycast/ named {prefix}"),
            ("IAM policies (old versions first)", f"under path /delaycast/ named {prefix}"),
            ("S3 buckets (emptied first)", f"all in {names.region}, by their tags"),
            ("ECR repositories (with their images)", "all, by their tags"),
        )
    ]


def print_plan(resources: Sequence[Resource], names: Names, title: str, out: TextIO) -> None:
    """Print the plan: a header with the tags, then each resource and its settings, one per line."""
    tags = json.dumps(names.tags)
    print(f"DRY RUN ({title}): nothing is created or deleted and no AWS API is called.", file=out)
    print(f"stack {names.stack!r} in {names.region}, account {names.account}", file=out)
    print(
        f"deletes only what is tagged {tags}" if title == "teardown" else f"every resource is tagged {tags}", file=out
    )
    for number, resource in enumerate(resources, 1):
        print(f"\n{number:2}. {resource.kind}" + (f": {resource.name}" if resource.name else ""), file=out)
        for key, value in resource.settings.items():
            if key not in HIDDEN:
                print(f"      {key}: {value if isinstance(value, str) else json.dumps(value)}", file=out)
