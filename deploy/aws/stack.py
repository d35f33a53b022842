"""The deploy and batch sequences: each step creates what is missing and corrects what differs."""

from __future__ import annotations

from dataclasses import dataclass

from deploy.aws.api import ensure_api
from deploy.aws.artifacts import LambdaPackage, ModelArchive, Revision, package_lambda, package_model
from deploy.aws.batch import start_transform, transform_request, wait_for_transform
from deploy.aws.config import Config, Instances
from deploy.aws.endpoint import (
    endpoint_config_request,
    endpoint_request,
    ensure_endpoint,
    ensure_endpoint_config,
    ensure_model,
    ensure_scaling,
    model_environment,
    model_name,
    model_request,
)
from deploy.aws.function import ensure_function, function_request
from deploy.aws.image import Pusher, ensure_image
from deploy.aws.logs import ensure_log_group
from deploy.aws.roles import ensure_managed_policy, ensure_role, function_policy, ingest_policy, sagemaker_policy
from deploy.aws.session import Context
from deploy.aws.storage import ensure_bucket, upload_model
from deploy.aws.table import ensure_table

INGEST_POLICY_DESCRIPTION = "python -m deploy.ingest: write the flight table, nothing else"


@dataclass(frozen=True)
class Artifacts:
    """The local files deploy uploads."""

    model: ModelArchive
    package: LambdaPackage


def build_artifacts(config: Config) -> Artifacts:
    """model.tar.gz and the Lambda zip, written to <work_dir>/<stack>/."""
    out = config.work_dir / config.stack
    return Artifacts(package_model(config.model_dir, out), package_lambda(out))


def ensure_model_resources(ctx: Context, artifacts: Artifacts, revision: Revision, pusher: Pusher) -> str:
    """Image, bucket, model archive, SageMaker role and model; the model's name."""
    names, config = ctx.names, ctx.config
    image_uri = ensure_image(ctx, revision, artifacts.model.version, pusher)
    ensure_bucket(ctx)
    data_url = upload_model(ctx, artifacts.model)
    role_arn = ensure_role(ctx, names.sagemaker_role, "sagemaker.amazonaws.com", sagemaker_policy(names, config))
    environment = model_environment(config.variant)
    name = model_name(names, artifacts.model.version, image_uri, data_url, environment)
    ensure_model(ctx, model_request(names, name, image_uri, data_url, role_arn, environment))
    return name


def deploy(ctx: Context, artifacts: Artifacts, revision: Revision, pusher: Pusher) -> str:
    """Everything from the image to the HTTP API; the invoke URL of POST /predict."""
    names, config = ctx.names, ctx.config
    model = ensure_model_resources(ctx, artifacts, revision, pusher)
    endpoint_config = endpoint_config_request(names, artifacts.model.version, model, config.variant)
    ensure_endpoint_config(ctx, endpoint_config)
    ensure_log_group(ctx, names.endpoint_log_group, config.log_retention_days)
    ensure_endpoint(ctx, endpoint_request(names, endpoint_config["EndpointConfigName"]), config.variant)
    if isinstance(config.variant, Instances):
        ensure_scaling(ctx, config.variant)
    ensure_flight_store(ctx)
    ensure_log_group(ctx, names.function_log_group, config.log_retention_days)
    role_arn = ensure_role(ctx, names.function, "lambda.amazonaws.com", function_policy(names))
    function_arn = ensure_function(ctx, function_request(names, config, role_arn), artifacts.package)
    return ensure_api(ctx, function_arn)


def ensure_flight_store(ctx: Context) -> None:
    """The flight table and the policy that lets ingest write it."""
    ensure_table(ctx)
    ensure_managed_policy(ctx, ctx.names.ingest_policy, ingest_policy(ctx.names), INGEST_POLICY_DESCRIPTION)


def batch(ctx: Context, artifacts: Artifacts, revision: Revision, pusher: Pusher, job: str, wait: bool) -> None:
    """Ensure the model (as deploy does) and start a Batch Transform job with it; wait for it if asked."""
    model = ensure_model_resources(ctx, artifacts, revision, pusher)
    start_transform(ctx, transform_request(ctx.names, ctx.config, model, job))
    if wait:
        wait_for_transform(ctx, job)
