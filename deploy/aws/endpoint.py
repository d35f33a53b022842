"""SageMaker model, endpoint config and endpoint, and the instance variant's auto scaling.

Models and endpoint configs are immutable in SageMaker, so their names end
with a hash of their content: the same inputs find the same resources (a
second deploy changes nothing), new inputs make new ones, and the endpoint
moves to a new config with UpdateEndpoint, which SageMaker applies blue/green
with no downtime. The endpoint is never deleted to be recreated.
"""

from __future__ import annotations

import json
from typing import Any

from deploy.aws.config import Instances, Serverless
from deploy.aws.names import SCALABLE_DIMENSION, VARIANT, Names, short_hash, slug, tag_list
from deploy.aws.session import Action, Context, DeployError, absent_on, differs, retry_while, role_not_ready

METRIC = "SageMakerVariantInvocationsPerInstance"
MISSING = ("ValidationException",)  # how SageMaker's Describe* say "not found"


# A container's peak memory for maximum-size bodies on every thread (docs/serving.md, "Workers and memory"):
# MB = BASE + workers x (PER_WORKER + PER_THREAD x threads) x (body MiB / 6).
MEMORY_BASE_MB = 150
MEMORY_PER_WORKER_MB = 370
MEMORY_PER_THREAD_MB = 7
SERVER_THREADS = 4  # the server's default (DELAYCAST_THREADS)
MAX_BODY_MIB = 6  # InvokeEndpoint's payload limit, the server's default
MEMORY_HEADROOM = 0.9  # the peak by the formula stays within this share of a serverless memory size


def peak_memory_mb(workers: int, threads: int = SERVER_THREADS, body_mib: float = MAX_BODY_MIB) -> float:
    """The formula's peak memory of a container serving maximum-size bodies on every thread."""
    return MEMORY_BASE_MB + workers * (MEMORY_PER_WORKER_MB + MEMORY_PER_THREAD_MB * threads) * body_mib / 6


def serverless_workers(variant: Serverless) -> int:
    """Workers for a serverless variant, whose CPU count the container cannot know: the most whose peak memory
    stays within MEMORY_HEADROOM of the memory size, no more than the concurrency (a worker scores one large
    request at a time), at least 1."""
    workers = 1
    while workers < variant.max_concurrency and peak_memory_mb(workers + 1) <= MEMORY_HEADROOM * variant.memory_mb:
        workers += 1
    return workers


def model_environment(variant: Serverless | Instances) -> dict[str, str]:
    """The container's environment: serverless variants get their worker count (instances count their CPUs)."""
    if isinstance(variant, Serverless):
        return {"SAGEMAKER_MODEL_SERVER_WORKERS": str(serverless_workers(variant))}
    return {}


def model_name(names: Names, version: str, image_uri: str, data_url: str, environment: dict[str, str]) -> str:
    """<stack>-<model version>-<hash of image, model data and environment>."""
    parts = [image_uri, data_url] + [f"{key}={value}" for key, value in sorted(environment.items())]
    return f"{names.stack}-{slug(version)[:30]}-{short_hash(*parts)}"


def model_request(
    names: Names, name: str, image_uri: str, data_url: str, role_arn: str, environment: dict[str, str]
) -> dict[str, Any]:
    """CreateModel: our image serving model.tar.gz with `environment`, run as the SageMaker role."""
    container = {"Image": image_uri, "ModelDataUrl": data_url, "Mode": "SingleModel"}
    return {
        "ModelName": name,
        "PrimaryContainer": {**container, "Environment": environment} if environment else container,
        "ExecutionRoleArn": role_arn,
        "Tags": tag_list(names.tags),
    }


def production_variant(variant: Serverless | Instances, model: str) -> dict[str, Any]:
    """The endpoint config's one variant: serverless (memory, concurrency) or instances (type, count)."""
    common = {"VariantName": VARIANT, "ModelName": model}
    if isinstance(variant, Serverless):
        return {
            **common,
            "ServerlessConfig": {"MemorySizeInMB": variant.memory_mb, "MaxConcurrency": variant.max_concurrency},
        }
    return {
        **common,
        "InstanceType": variant.instance_type,
        "InitialInstanceCount": variant.initial_count,
        "InitialVariantWeight": 1.0,
    }


def endpoint_config_request(names: Names, version: str, model: str, variant: Serverless | Instances) -> dict[str, Any]:
    """CreateEndpointConfig, named <stack>-<model version>-<hash of model and variant>."""
    spec = production_variant(variant, model)
    return {
        "EndpointConfigName": f"{names.stack}-{slug(version)[:30]}-{short_hash(json.dumps(spec, sort_keys=True))}",
        "ProductionVariants": [spec],
        "Tags": tag_list(names.tags),
    }


def endpoint_request(names: Names, config_name: str) -> dict[str, Any]:
    """CreateEndpoint."""
    return {"EndpointName": names.endpoint, "EndpointConfigName": config_name, "Tags": tag_list(names.tags)}


def scalable_target_request(names: Names, variant: Instances) -> dict[str, Any]:
    """RegisterScalableTarget: the variant's instance count, from min to max."""
    return {
        "ServiceNamespace": "sagemaker",
        "ResourceId": names.scaling_resource,
        "ScalableDimension": SCALABLE_DIMENSION,
        "MinCapacity": variant.min_count,
        "MaxCapacity": variant.max_count,
        "Tags": names.tags,
    }


def scaling_policy_request(names: Names, variant: Instances) -> dict[str, Any]:
    """PutScalingPolicy: target tracking on invocations per instance."""
    return {
        "PolicyName": names.scaling_policy,
        "ServiceNamespace": "sagemaker",
        "ResourceId": names.scaling_resource,
        "ScalableDimension": SCALABLE_DIMENSION,
        "PolicyType": "TargetTrackingScaling",
        "TargetTrackingScalingPolicyConfiguration": {
            "TargetValue": float(variant.invocations_per_instance),
            "PredefinedMetricSpecification": {"PredefinedMetricType": METRIC},
            "ScaleInCooldown": variant.scale_in_cooldown,
            "ScaleOutCooldown": variant.scale_out_cooldown,
        },
    }


def ensure_model(ctx: Context, request: dict[str, Any]) -> None:
    """Create the model unless one of that name (hence that content) exists."""
    sagemaker = ctx.client("sagemaker")
    name = request["ModelName"]
    if absent_on(MISSING, lambda: sagemaker.describe_model(ModelName=name)) is not None:
        ctx.report("unchanged", "SageMaker model", name)
        return
    retry_while(ctx, lambda: sagemaker.create_model(**request), role_not_ready, f"create model {name}")
    ctx.report("created", "SageMaker model", name, request["PrimaryContainer"]["Image"])


def ensure_endpoint_config(ctx: Context, request: dict[str, Any]) -> None:
    """Create the endpoint config unless one of that name (hence that content) exists."""
    sagemaker = ctx.client("sagemaker")
    name = request["EndpointConfigName"]
    if absent_on(MISSING, lambda: sagemaker.describe_endpoint_config(EndpointConfigName=name)) is not None:
        ctx.report("unchanged", "SageMaker endpoint config", name)
        return
    sagemaker.create_endpoint_config(**request)
    ctx.report("created", "SageMaker endpoint config", name, _variant_summary(request["ProductionVariants"][0]))


def _variant_summary(variant: dict[str, Any]) -> str:
    if "ServerlessConfig" in variant:
        config = variant["ServerlessConfig"]
        return f"serverless, {config['MemorySizeInMB']} MB, max concurrency {config['MaxConcurrency']}"
    return f"{variant['InitialInstanceCount']} x {variant['InstanceType']}"


def ensure_endpoint(ctx: Context, request: dict[str, Any], variant: Serverless | Instances) -> None:
    """Create the endpoint, or move it to the new config with UpdateEndpoint; wait until it is InService."""
    sagemaker = ctx.client("sagemaker")
    name = request["EndpointName"]
    config_name = request["EndpointConfigName"]
    current = absent_on(MISSING, lambda: sagemaker.describe_endpoint(EndpointName=name))
    if current is None:
        sagemaker.create_endpoint(**request)
        ctx.report("created", "SageMaker endpoint", name, config_name)
    elif current["EndpointStatus"] == "Failed":
        raise DeployError(
            f"endpoint {name} is Failed ({current.get('FailureReason', 'no reason given')}); "
            "run teardown, fix the cause, deploy again"
        )
    elif current["EndpointConfigName"] == config_name:
        ctx.report("unchanged", "SageMaker endpoint", name, config_name)
    else:
        _update_endpoint(ctx, current, config_name, variant)
    wait_for_endpoint(ctx, name, config_name)


def _update_endpoint(ctx: Context, current: dict[str, Any], config_name: str, variant: Serverless | Instances) -> None:
    """UpdateEndpoint; auto scaling stays on for a new model, and is taken off first when the instance type changes
    or the variant becomes serverless (SageMaker refuses those updates on a scalable target)."""
    name = current["EndpointName"]
    scaled = _scalable_target(ctx) is not None
    if scaled and _instance_type(ctx, current["EndpointConfigName"]) != getattr(variant, "instance_type", None):
        deregister_scaling(ctx)
        scaled = False
    ctx.client("sagemaker").update_endpoint(
        EndpointName=name, EndpointConfigName=config_name, RetainAllVariantProperties=scaled
    )
    ctx.report("updated", "SageMaker endpoint", name, f"{current['EndpointConfigName']} -> {config_name}")


def _instance_type(ctx: Context, config_name: str) -> str | None:
    config = ctx.client("sagemaker").describe_endpoint_config(EndpointConfigName=config_name)
    instance_type = config["ProductionVariants"][0].get("InstanceType")
    return str(instance_type) if instance_type else None


def wait_for_endpoint(ctx: Context, name: str, config_name: str) -> None:
    """Poll until the endpoint is InService on `config_name`, printing progress; DeployError with the reason if not."""
    limit = ctx.config.wait_minutes * 60
    waited = 0.0
    while True:
        endpoint = ctx.client("sagemaker").describe_endpoint(EndpointName=name)
        status = endpoint["EndpointStatus"]
        reason = endpoint.get("FailureReason", "no reason given")
        if status == "InService" and endpoint["EndpointConfigName"] == config_name:
            ctx.report.progress(f"endpoint {name}: InService")
            return
        if status == "InService":
            raise DeployError(f"endpoint {name}: the update to {config_name} was rolled back: {reason}")
        if status in ("Failed", "OutOfService"):
            raise DeployError(f"endpoint {name} is {status}: {reason}")
        if waited >= limit:
            raise DeployError(f"endpoint {name} is still {status} after {ctx.config.wait_minutes} minutes")
        ctx.report.progress(f"endpoint {name}: {status}, {waited / 60:.1f} min so far")
        ctx.sleep(ctx.poll_seconds)
        waited += ctx.poll_seconds


def ensure_scaling(ctx: Context, variant: Instances) -> None:
    """Register the variant as a scalable target and attach the target-tracking policy, where they differ."""
    scaling = ctx.client("application-autoscaling")
    target = scalable_target_request(ctx.names, variant)
    current = _scalable_target(ctx)
    changed = current is None or differs({key: target[key] for key in ("MinCapacity", "MaxCapacity")}, current)
    if changed:
        scaling.register_scalable_target(**target)
    policy = scaling_policy_request(ctx.names, variant)
    policies = scaling.describe_scaling_policies(
        ServiceNamespace="sagemaker", ResourceId=ctx.names.scaling_resource, PolicyNames=[policy["PolicyName"]]
    )["ScalingPolicies"]
    if not policies or differs(policy, policies[0]):
        scaling.put_scaling_policy(**policy)
        changed = True
    detail = (
        f"{variant.min_count}-{variant.max_count} instances, {variant.invocations_per_instance} invocations/instance"
    )
    action: Action = "unchanged" if not changed else "created" if current is None else "updated"
    ctx.report(action, "auto scaling", ctx.names.scaling_resource, detail)


def _scalable_target(ctx: Context) -> dict[str, Any] | None:
    targets = ctx.client("application-autoscaling").describe_scalable_targets(
        ServiceNamespace="sagemaker", ResourceIds=[ctx.names.scaling_resource], ScalableDimension=SCALABLE_DIMENSION
    )["ScalableTargets"]
    return targets[0] if targets else None


def deregister_scaling(ctx: Context) -> None:
    """Take the variant off auto scaling (its policies go with it), if it is on."""
    if _scalable_target(ctx) is None:
        return
    ctx.client("application-autoscaling").deregister_scalable_target(
        ServiceNamespace="sagemaker", ResourceId=ctx.names.scaling_resource, ScalableDimension=SCALABLE_DIMENSION
    )
    ctx.report("deleted", "auto scaling", ctx.names.scaling_resource)
