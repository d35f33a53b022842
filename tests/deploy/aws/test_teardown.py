"""`teardown` against moto: what deploy and batch created is gone, what other stacks own is not."""

from __future__ import annotations

import json

from deploy.aws.session import Aws
from tests.deploy.aws.support import ACCOUNT, REGION, Calls, Cli

OTHER = {"project": "delaycast", "delaycast:stack": "delaycast-dev"}


def remaining(aws: Aws) -> dict[str, list[str]]:
    """Everything of the kinds deploy creates that is left in the account, by kind."""
    sagemaker = aws.client("sagemaker")
    return {
        "ecr": [r["repositoryName"] for r in aws.client("ecr").describe_repositories()["repositories"]],
        "s3": [b["Name"] for b in aws.client("s3").list_buckets()["Buckets"]],
        "iam": [r["RoleName"] for r in aws.client("iam").list_roles(PathPrefix="/delaycast/")["Roles"]],
        "models": [m["ModelName"] for m in sagemaker.list_models()["Models"]],
        "configs": [c["EndpointConfigName"] for c in sagemaker.list_endpoint_configs()["EndpointConfigs"]],
        "endpoints": [e["EndpointName"] for e in sagemaker.list_endpoints()["Endpoints"]],
        "scaling": [
            t["ResourceId"]
            for t in aws.client("application-autoscaling").describe_scalable_targets(ServiceNamespace="sagemaker")[
                "ScalableTargets"
            ]
        ],
        "lambda": [f["FunctionName"] for f in aws.client("lambda").list_functions()["Functions"]],
        "logs": [g["logGroupName"] for g in aws.client("logs").describe_log_groups()["logGroups"]],
        "apis": [a["Name"] for a in aws.client("apigatewayv2").get_apis()["Items"]],
        "tables": aws.client("dynamodb").list_tables()["TableNames"],
        "policies": [p["PolicyName"] for p in aws.client("iam").list_policies(Scope="Local")["Policies"]],
    }


def test_teardown_leaves_no_tagged_resource(cli: Cli, aws: Aws) -> None:
    assert cli("deploy", "--mode", "instance")[0] == 0
    assert cli("batch")[0] == 0

    code, out = cli("teardown", "--yes")

    assert code == 0, out
    left = remaining(aws)
    assert left == {kind: [] for kind in left}
    tagged = aws.client("resourcegroupstaggingapi").get_resources(
        TagFilters=[{"Key": "delaycast:stack", "Values": ["delaycast"]}]
    )["ResourceTagMappingList"]
    # Batch Transform jobs cannot be deleted in SageMaker; moto's job is Completed at once, so nothing to stop.
    assert [item["ResourceARN"] for item in tagged if ":transform-job/" not in item["ResourceARN"]] == []
    for kind in (
        "HTTP API",
        "Lambda function",
        "SageMaker endpoint",
        "DynamoDB table",
        "IAM role",
        "IAM policy",
        "S3 bucket",
        "ECR repository",
    ):
        assert f"deleted   {kind}" in out


def test_teardown_spares_what_other_stacks_and_nobody_own(cli: Cli, aws: Aws) -> None:
    assert cli("deploy")[0] == 0
    s3, iam = aws.client("s3"), aws.client("iam")
    s3.create_bucket(Bucket="someone-elses-bucket")
    s3.create_bucket(Bucket="delaycast-dev-bucket")
    s3.put_bucket_tagging(
        Bucket="delaycast-dev-bucket", Tagging={"TagSet": [{"Key": k, "Value": v} for k, v in OTHER.items()]}
    )
    trust = json.dumps({"Version": "2012-10-17", "Statement": []})
    iam.create_role(
        RoleName="delaycast-dev-predict",
        Path="/delaycast/",
        AssumeRolePolicyDocument=trust,
        Tags=[{"Key": k, "Value": v} for k, v in OTHER.items()],
    )
    iam.create_role(RoleName="delaycast-untagged", Path="/delaycast/", AssumeRolePolicyDocument=trust)

    code, out = cli("teardown", "--yes")

    assert code == 0, out
    left = remaining(aws)
    assert sorted(left["s3"]) == ["delaycast-dev-bucket", "someone-elses-bucket"]
    assert sorted(left["iam"]) == ["delaycast-dev-predict", "delaycast-untagged"]
    assert f"delaycast-{ACCOUNT}-{REGION}" not in left["s3"]


def test_teardown_asks_first(cli: Cli, calls: Calls) -> None:
    assert cli("deploy")[0] == 0
    calls.clear()

    code, out = cli("teardown")  # the test's confirm() answers "", not the stack name

    assert code == 1
    assert "nothing deleted" in out
    assert calls.mutating() == []


def test_teardown_of_nothing_says_so(cli: Cli) -> None:
    code, out = cli("teardown", "--yes")

    assert code == 0
    assert "nothing tagged delaycast:stack=delaycast in us-east-1" in out
