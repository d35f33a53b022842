"""Delete everything a deploy created, found by its tags (project=delaycast, delaycast:stack=<stack>).

Each service is listed (narrowed by the stack's name prefix where names are
derived from it) and only resources carrying both tags are deleted, in an order
that leaves nothing in use: API, function, endpoint and its scaling, configs,
models, flight table, log groups, roles, ingest policy, bucket (emptied),
repository (with its images).
Batch Transform jobs cannot be deleted: running ones are stopped, finished
ones stay as records (they cost nothing).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from deploy.aws.api import find_apis
from deploy.aws.names import ROLE_PATH, SCALABLE_DIMENSION, VARIANT, belongs, tag_map
from deploy.aws.roles import delete_old_versions
from deploy.aws.session import Context, absent_on


def teardown(ctx: Context) -> int:
    """Delete the stack's resources, reporting each; how many were deleted or stopped."""
    for step in (
        _apis,
        _functions,
        _endpoints,
        _endpoint_configs,
        _models,
        _transform_jobs,
        _tables,
        _log_groups,
        _roles,
        _policies,
        _buckets,
        _repositories,
    ):
        step(ctx)
    return len(ctx.report.entries)


def _apis(ctx: Context) -> None:
    for api in find_apis(ctx):
        ctx.client("apigatewayv2").delete_api(ApiId=api["ApiId"])
        ctx.report("deleted", "HTTP API", api["Name"], f"{api['ApiId']}, with its routes, integration and stage")


def _functions(ctx: Context) -> None:
    lam = ctx.client("lambda")
    for page in lam.get_paginator("list_functions").paginate():
        for function in page["Functions"]:
            name = function["FunctionName"]
            if name.startswith(f"{ctx.names.stack}-") and belongs(
                lam.list_tags(Resource=function["FunctionArn"])["Tags"], ctx.names.stack
            ):
                lam.delete_function(FunctionName=name)
                ctx.report("deleted", "Lambda function", name, "with its permission")


def _sagemaker(ctx: Context, operation: str, items: str, kind: str, **filters: Any) -> Iterator[str]:
    """Names of the stack's SageMaker resources of one kind (list_endpoints -> Endpoints -> EndpointName...)."""
    sagemaker = ctx.client("sagemaker")
    for page in sagemaker.get_paginator(operation).paginate(NameContains=ctx.names.stack, **filters):
        for item in page[items]:
            if belongs(tag_map(sagemaker.list_tags(ResourceArn=item[f"{kind}Arn"])["Tags"]), ctx.names.stack):
                yield str(item[f"{kind}Name"])


def _endpoints(ctx: Context) -> None:
    scaling = ctx.client("application-autoscaling")
    for name in _sagemaker(ctx, "list_endpoints", "Endpoints", "Endpoint"):
        resource = f"endpoint/{name}/variant/{VARIANT}"
        targets = scaling.describe_scalable_targets(ServiceNamespace="sagemaker", ResourceIds=[resource])
        if targets["ScalableTargets"]:
            scaling.deregister_scalable_target(
                ServiceNamespace="sagemaker", ResourceId=resource, ScalableDimension=SCALABLE_DIMENSION
            )
            ctx.report("deleted", "auto scaling", resource, "with its policy")
        ctx.client("sagemaker").delete_endpoint(EndpointName=name)
        ctx.report("deleted", "SageMaker endpoint", name, "billing stops once it is gone, in a few minutes")


def _endpoint_configs(ctx: Context) -> None:
    for name in _sagemaker(ctx, "list_endpoint_configs", "EndpointConfigs", "EndpointConfig"):
        ctx.client("sagemaker").delete_endpoint_config(EndpointConfigName=name)
        ctx.report("deleted", "SageMaker endpoint config", name)


def _models(ctx: Context) -> None:
    for name in _sagemaker(ctx, "list_models", "Models", "Model"):
        ctx.client("sagemaker").delete_model(ModelName=name)
        ctx.report("deleted", "SageMaker model", name)


def _transform_jobs(ctx: Context) -> None:
    for name in _sagemaker(
        ctx, "list_transform_jobs", "TransformJobSummaries", "TransformJob", StatusEquals="InProgress"
    ):
        ctx.client("sagemaker").stop_transform_job(TransformJobName=name)
        ctx.report("stopped", "Batch Transform job", name)


def _tables(ctx: Context) -> None:
    dynamodb = ctx.client("dynamodb")
    for page in dynamodb.get_paginator("list_tables").paginate():
        for name in page["TableNames"]:
            if not name.startswith(f"{ctx.names.stack}-"):
                continue
            arn = dynamodb.describe_table(TableName=name)["Table"]["TableArn"]
            if belongs(tag_map(dynamodb.list_tags_of_resource(ResourceArn=arn).get("Tags", [])), ctx.names.stack):
                dynamodb.delete_table(TableName=name)
                ctx.report("deleted", "DynamoDB table", name, "with every item")


def _log_groups(ctx: Context) -> None:
    logs = ctx.client("logs")
    for prefix in (f"/aws/lambda/{ctx.names.stack}-", f"/aws/sagemaker/Endpoints/{ctx.names.stack}"):
        for page in logs.get_paginator("describe_log_groups").paginate(logGroupNamePrefix=prefix):
            for group in page["logGroups"]:
                if belongs(logs.list_tags_for_resource(resourceArn=group["logGroupArn"])["tags"], ctx.names.stack):
                    logs.delete_log_group(logGroupName=group["logGroupName"])
                    ctx.report("deleted", "log group", group["logGroupName"])


def _roles(ctx: Context) -> None:
    iam = ctx.client("iam")
    for page in iam.get_paginator("list_roles").paginate(PathPrefix=ROLE_PATH):
        for role in page["Roles"]:
            name = role["RoleName"]
            if name.startswith(f"{ctx.names.stack}-") and belongs(
                tag_map(iam.list_role_tags(RoleName=name)["Tags"]), ctx.names.stack
            ):
                _delete_role(ctx, name)


def _delete_role(ctx: Context, name: str) -> None:
    iam = ctx.client("iam")
    for policy in iam.list_role_policies(RoleName=name)["PolicyNames"]:
        iam.delete_role_policy(RoleName=name, PolicyName=policy)
    for attached in iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]:
        iam.detach_role_policy(RoleName=name, PolicyArn=attached["PolicyArn"])
    iam.delete_role(RoleName=name)
    ctx.report("deleted", "IAM role", name, "with its inline policy")


def _policies(ctx: Context) -> None:
    iam = ctx.client("iam")
    for page in iam.get_paginator("list_policies").paginate(Scope="Local", PathPrefix=ROLE_PATH):
        for policy in page["Policies"]:
            name, arn = policy["PolicyName"], policy["Arn"]
            if name.startswith(f"{ctx.names.stack}-") and belongs(
                tag_map(iam.list_policy_tags(PolicyArn=arn)["Tags"]), ctx.names.stack
            ):
                delete_old_versions(ctx, arn)
                iam.delete_policy(PolicyArn=arn)
                ctx.report("deleted", "IAM policy", name)


def _buckets(ctx: Context) -> None:
    s3 = ctx.client("s3")
    for page in s3.get_paginator("list_buckets").paginate(BucketRegion=ctx.names.region):
        for bucket in page["Buckets"]:
            name = bucket["Name"]
            tags = _bucket_tags(ctx, name)
            if belongs(tags, ctx.names.stack):
                count = _empty_bucket(ctx, name)
                s3.delete_bucket(Bucket=name)
                ctx.report("deleted", "S3 bucket", name, f"and its {count} objects")


def _bucket_tags(ctx: Context, bucket: str) -> dict[str, str]:
    """A bucket's tags; none for an untagged bucket or one we may not read."""
    s3 = ctx.client("s3")
    tags = absent_on(("NoSuchTagSet", "NoSuchBucket", "AccessDenied"), lambda: s3.get_bucket_tagging(Bucket=bucket))
    return tag_map(tags["TagSet"]) if tags else {}


def _empty_bucket(ctx: Context, bucket: str) -> int:
    s3 = ctx.client("s3")
    count = 0
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
        keys = [
            {"Key": item["Key"], "VersionId": item["VersionId"]}
            for item in page.get("Versions", []) + page.get("DeleteMarkers", [])
        ]
        if keys:
            s3.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})
            count += len(keys)
    return count


def _repositories(ctx: Context) -> None:
    ecr = ctx.client("ecr")
    for page in ecr.get_paginator("describe_repositories").paginate():
        for repository in page["repositories"]:
            tags = tag_map(ecr.list_tags_for_resource(resourceArn=repository["repositoryArn"])["tags"])
            if belongs(tags, ctx.names.stack):
                ecr.delete_repository(repositoryName=repository["repositoryName"], force=True)
                ctx.report("deleted", "ECR repository", repository["repositoryName"], "with its images")
