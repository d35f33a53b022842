"""The IAM policy documents themselves: what each role may do, statement by statement.

moto stores policies but evaluates none, so least privilege is checked here on the documents.
"""

from __future__ import annotations

from typing import Any

from deploy.aws.config import load_config
from deploy.aws.names import Names
from deploy.aws.roles import function_policy, ingest_policy, sagemaker_policy, trust_policy

NAMES = Names("delaycast", "us-east-1", "123456789012")
ENDPOINT_ARN = "arn:aws:sagemaker:us-east-1:123456789012:endpoint/delaycast"
TABLE_ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/delaycast-flights"


def actions(statement: dict[str, Any]) -> list[str]:
    action = statement["Action"]
    return [action] if isinstance(action, str) else list(action)


def resources(statement: dict[str, Any]) -> list[str]:
    resource = statement["Resource"]
    return [resource] if isinstance(resource, str) else list(resource)


def test_the_lambda_may_invoke_exactly_one_endpoint() -> None:
    policy = function_policy(NAMES)

    sagemaker = [s for s in policy["Statement"] if any(a.startswith("sagemaker:") for a in actions(s))]
    assert len(sagemaker) == 1
    assert actions(sagemaker[0]) == ["sagemaker:InvokeEndpoint"]
    assert resources(sagemaker[0]) == [ENDPOINT_ARN]
    assert all(s["Effect"] == "Allow" and "Condition" not in s and "NotResource" not in s for s in policy["Statement"])


def test_the_lambda_may_write_its_own_log_group_only() -> None:
    (logs,) = [s for s in function_policy(NAMES)["Statement"] if s["Sid"] == "WriteOwnLogs"]

    assert actions(logs) == ["logs:CreateLogStream", "logs:PutLogEvents"]
    assert resources(logs) == ["arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/delaycast-predict:*"]


def test_the_lambda_policy_has_nothing_else() -> None:
    granted = {a for s in function_policy(NAMES)["Statement"] for a in actions(s)}

    assert granted == {
        "sagemaker:InvokeEndpoint",
        "dynamodb:GetItem",
        "dynamodb:BatchGetItem",
        "dynamodb:Query",
        "logs:CreateLogStream",
        "logs:PutLogEvents",
    }
    assert not any("*" in r.removesuffix(":*") for s in function_policy(NAMES)["Statement"] for r in resources(s))


def test_the_lambda_may_only_read_the_flight_table() -> None:
    dynamodb = [s for s in function_policy(NAMES)["Statement"] if any(a.startswith("dynamodb:") for a in actions(s))]

    assert [(s["Sid"], actions(s), resources(s)) for s in dynamodb] == [
        ("ReadFlightTable", ["dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query"], [TABLE_ARN])
    ]


def test_ingest_may_only_write_the_flight_table() -> None:
    policy = ingest_policy(NAMES)

    assert [(s["Sid"], s["Effect"], actions(s), resources(s)) for s in policy["Statement"]] == [
        ("WriteFlightTable", "Allow", ["dynamodb:BatchWriteItem", "dynamodb:PutItem"], [TABLE_ARN])
    ]
    assert all("Condition" not in s and "NotResource" not in s and "NotAction" not in s for s in policy["Statement"])


def test_the_endpoint_arn_is_lowercase_as_sagemaker_writes_it() -> None:
    # SageMaker lowercases names in ARNs; a policy with another case would match nothing.
    assert function_policy(Names("dc-prod", "eu-west-1", "111122223333"))["Statement"][0]["Resource"] == (
        "arn:aws:sagemaker:eu-west-1:111122223333:endpoint/dc-prod"
    )


def test_sagemaker_may_use_only_this_stacks_repository_bucket_and_log_groups() -> None:
    policy = sagemaker_policy(NAMES, load_config())
    wildcard = {a for s in policy["Statement"] for a in actions(s) if resources(s) == ["*"]}

    # These two actions have no resource-level permissions in IAM.
    assert wildcard == {"ecr:GetAuthorizationToken", "cloudwatch:PutMetricData"}
    by_sid = {s["Sid"]: s for s in policy["Statement"]}
    assert resources(by_sid["PullImage"]) == ["arn:aws:ecr:us-east-1:123456789012:repository/delaycast"]
    assert resources(by_sid["ReadModels"]) == ["arn:aws:s3:::delaycast-123456789012-us-east-1/models/*"]
    assert resources(by_sid["WriteBatchOutput"]) == ["arn:aws:s3:::delaycast-123456789012-us-east-1/batch/output/*"]
    assert by_sid["ListBatchInput"]["Condition"] == {"StringLike": {"s3:prefix": ["batch/input/*"]}}
    assert not any(a.startswith(("iam:", "sagemaker:", "s3:Delete")) for s in policy["Statement"] for a in actions(s))


def test_each_role_is_assumed_by_one_service() -> None:
    (statement,) = trust_policy("lambda.amazonaws.com")["Statement"]

    assert statement == {
        "Effect": "Allow",
        "Principal": {"Service": "lambda.amazonaws.com"},
        "Action": "sts:AssumeRole",
    }
