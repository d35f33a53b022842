"""The stack's two IAM roles and their inline policies, and its ingest policy, each granting only what its user needs.

- `<stack>-predict`, assumed by Lambda: sagemaker:InvokeEndpoint on this
  endpoint's ARN alone, reading the flight table (GetItem, BatchGetItem, Query),
  and writing to its own log group.
- `<stack>-sagemaker`, assumed by SageMaker: pull this repository's image,
  read this bucket's models and the batch input prefix, write the batch output
  prefix, log to the endpoint's and Batch Transform's log groups.
- `<stack>-ingest`, a managed policy for whoever runs `python -m deploy.ingest`
  (attach it to a user, group or role): writing the flight table (BatchWriteItem,
  PutItem) and nothing else.
"""

from __future__ import annotations

import json
from typing import Any

from delaycast.errors import ConfigError
from deploy.aws.config import Config
from deploy.aws.names import ROLE_PATH, Names, belongs, tag_list, tag_map
from deploy.aws.session import Context, absent_on

POLICY_NAME = "delaycast"
VERSION = "2012-10-17"
TRANSFORM_LOG_GROUP = "/aws/sagemaker/TransformJobs"
TABLE_READS = ["dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query"]
TABLE_WRITES = ["dynamodb:BatchWriteItem", "dynamodb:PutItem"]


def trust_policy(service: str) -> dict[str, Any]:
    """Who may assume the role: one AWS service."""
    return {
        "Version": VERSION,
        "Statement": [{"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}],
    }


def function_policy(names: Names) -> dict[str, Any]:
    """The Lambda's permissions: invoke this one endpoint, read the flight table, write its own log group."""
    return {
        "Version": VERSION,
        "Statement": [
            {
                "Sid": "InvokeThisEndpoint",
                "Effect": "Allow",
                "Action": "sagemaker:InvokeEndpoint",
                "Resource": names.endpoint_arn,
            },
            _allow("ReadFlightTable", TABLE_READS, names.flight_table_arn),
            {
                "Sid": "WriteOwnLogs",
                "Effect": "Allow",
                "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                "Resource": f"{names.log_group_arn(names.function_log_group)}:*",
            },
        ],
    }


def ingest_policy(names: Names) -> dict[str, Any]:
    """What ingest may do: put items into the flight table, nothing else (not even read it)."""
    return {"Version": VERSION, "Statement": [_allow("WriteFlightTable", TABLE_WRITES, names.flight_table_arn)]}


def sagemaker_policy(names: Names, config: Config) -> dict[str, Any]:
    """SageMaker's permissions for hosting and Batch Transform with this stack's image, model and prefixes."""
    batch_input, batch_output = names.batch_locations(config.batch)
    log_groups = [names.log_group_arn(group) for group in (names.endpoint_log_group, TRANSFORM_LOG_GROUP)]
    return {
        "Version": VERSION,
        "Statement": [
            _allow(
                "PullImage",
                ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
                names.repository_arn,
            ),
            _allow("RegistryToken", ["ecr:GetAuthorizationToken"], "*"),
            _allow("ReadModels", ["s3:GetObject"], names.bucket_arn("models/*")),
            _allow(
                "ReadBatchInput",
                ["s3:GetObject"],
                f"arn:{names.partition}:s3:::{batch_input.bucket}/{batch_input.prefix}*",
            ),
            {
                **_allow("ListBatchInput", ["s3:ListBucket"], f"arn:{names.partition}:s3:::{batch_input.bucket}"),
                "Condition": {"StringLike": {"s3:prefix": [f"{batch_input.prefix}*"]}},
            },
            _allow(
                "WriteBatchOutput",
                ["s3:PutObject"],
                f"arn:{names.partition}:s3:::{batch_output.bucket}/{batch_output.prefix}*",
            ),
            _allow(
                "Logs",
                ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:DescribeLogStreams", "logs:PutLogEvents"],
                [arn for group in log_groups for arn in (group, f"{group}:*")],
            ),
            _allow("Metrics", ["cloudwatch:PutMetricData"], "*"),
        ],
    }


def _allow(sid: str, actions: list[str], resource: str | list[str]) -> dict[str, Any]:
    return {"Sid": sid, "Effect": "Allow", "Action": actions, "Resource": resource}


def role_request(names: Names, role: str, service: str) -> dict[str, Any]:
    """CreateRole for `role`, assumed by `service`."""
    return {
        "RoleName": role,
        "Path": ROLE_PATH,
        "AssumeRolePolicyDocument": json.dumps(trust_policy(service)),
        "Description": f"delaycast stack {names.stack}: assumed by {service}",
        "Tags": tag_list(names.tags),
    }


def ensure_role(ctx: Context, role: str, service: str, policy: dict[str, Any]) -> str:
    """Create or correct `role` with its trust policy and its one inline policy; its ARN."""
    iam = ctx.client("iam")
    found = absent_on(("NoSuchEntity",), lambda: iam.get_role(RoleName=role)["Role"])
    if found is None:
        created = iam.create_role(**role_request(ctx.names, role, service))["Role"]
        iam.put_role_policy(RoleName=role, PolicyName=POLICY_NAME, PolicyDocument=json.dumps(policy))
        ctx.report("created", "IAM role", role, f"assumed by {service}")
        return str(created["Arn"])
    if not belongs(tag_map(iam.list_role_tags(RoleName=role)["Tags"]), ctx.names.stack):
        raise ConfigError(f"IAM role {role} exists but is not this stack's: choose another stack name")
    changed = _ensure_trust(ctx, found, service) | _ensure_policy(ctx, role, policy)
    ctx.report("updated" if changed else "unchanged", "IAM role", role, f"assumed by {service}")
    return str(found["Arn"])


def _ensure_trust(ctx: Context, role: dict[str, Any], service: str) -> bool:
    if role["AssumeRolePolicyDocument"] == trust_policy(service):
        return False
    ctx.client("iam").update_assume_role_policy(
        RoleName=role["RoleName"], PolicyDocument=json.dumps(trust_policy(service))
    )
    return True


def _ensure_policy(ctx: Context, role: str, policy: dict[str, Any]) -> bool:
    iam = ctx.client("iam")
    current = absent_on(("NoSuchEntity",), lambda: iam.get_role_policy(RoleName=role, PolicyName=POLICY_NAME))
    if current is not None and current["PolicyDocument"] == policy:
        return False
    iam.put_role_policy(RoleName=role, PolicyName=POLICY_NAME, PolicyDocument=json.dumps(policy))
    return True


def ensure_managed_policy(ctx: Context, name: str, policy: dict[str, Any], description: str) -> str:
    """Create the managed policy `name` (under ROLE_PATH, tagged), or make `policy` its default version; its ARN."""
    iam = ctx.client("iam")
    arn = ctx.names.arn("iam", f"policy{ROLE_PATH}{name}", region=False)
    found = absent_on(("NoSuchEntity",), lambda: iam.get_policy(PolicyArn=arn)["Policy"])
    if found is None:
        iam.create_policy(
            PolicyName=name,
            Path=ROLE_PATH,
            PolicyDocument=json.dumps(policy),
            Description=description,
            Tags=tag_list(ctx.names.tags),
        )
        ctx.report("created", "IAM policy", name, description)
        return arn
    if not belongs(tag_map(iam.list_policy_tags(PolicyArn=arn)["Tags"]), ctx.names.stack):
        raise ConfigError(f"IAM policy {name} exists but is not this stack's: choose another stack name")
    current = iam.get_policy_version(PolicyArn=arn, VersionId=found["DefaultVersionId"])["PolicyVersion"]
    if current["Document"] == policy:
        ctx.report("unchanged", "IAM policy", name, description)
        return arn
    delete_old_versions(ctx, arn)
    iam.create_policy_version(PolicyArn=arn, PolicyDocument=json.dumps(policy), SetAsDefault=True)
    ctx.report("updated", "IAM policy", name, description)
    return arn


def delete_old_versions(ctx: Context, arn: str) -> None:
    """Delete every version of a managed policy but its default (IAM keeps at most five)."""
    iam = ctx.client("iam")
    for version in iam.list_policy_versions(PolicyArn=arn)["Versions"]:
        if not version["IsDefaultVersion"]:
            iam.delete_policy_version(PolicyArn=arn, VersionId=version["VersionId"])
