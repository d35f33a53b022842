"""The flight store's table and ingest policy in the deploy tool, against moto: created, wired, kept, torn down.

moto stores IAM policies without evaluating them: that the Lambda may only read the table and ingest may
only write it is checked on the documents (test_policies.py); here, that deploy puts them in place.
"""

from __future__ import annotations

import json
from typing import Any

import boto3

from delaycast.store import TTL_ATTRIBUTE
from deploy.aws.artifacts import LAMBDA_FILES
from deploy.aws.names import Names
from deploy.aws.roles import ingest_policy
from deploy.aws.session import Aws
from deploy.aws.table import create_table
from tests.deploy.aws.support import ACCOUNT, REGION, Calls, Cli

TABLE = "delaycast-flights"
TABLE_ARN = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{TABLE}"
POLICY_ARN = f"arn:aws:iam::{ACCOUNT}:policy/delaycast/delaycast-ingest"
TAGS = {"project": "delaycast", "delaycast:stack": "delaycast"}
OTHER = {"project": "delaycast", "delaycast:stack": "delaycast-dev"}
NAMES = Names("delaycast", REGION, ACCOUNT)


def tags_of(items: list[dict[str, str]]) -> dict[str, str]:
    return {item["Key"]: item["Value"] for item in items}


def table_tags(aws: Aws, name: str = TABLE) -> dict[str, str]:
    arn = aws.client("dynamodb").describe_table(TableName=name)["Table"]["TableArn"]
    return tags_of(aws.client("dynamodb").list_tags_of_resource(ResourceArn=arn)["Tags"])


def default_document(aws: Aws) -> dict[str, Any]:
    iam = aws.client("iam")
    version = iam.get_policy(PolicyArn=POLICY_ARN)["Policy"]["DefaultVersionId"]
    return dict(iam.get_policy_version(PolicyArn=POLICY_ARN, VersionId=version)["PolicyVersion"]["Document"])


def test_create_table_makes_an_on_demand_table_with_its_ttl_once(session: boto3.Session, moto: str) -> None:
    client = session.client("dynamodb", endpoint_url=moto)
    calls = Calls()
    client.meta.events.register("before-parameter-build", calls.record)

    arn = create_table(client, "flights", TAGS)
    created = calls.mutating()
    calls.clear()
    again = create_table(client, "flights", TAGS)

    table = client.describe_table(TableName="flights")["Table"]
    assert arn == again == table["TableArn"]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert table["KeySchema"] == [
        {"AttributeName": "pk", "KeyType": "HASH"},
        {"AttributeName": "sk", "KeyType": "RANGE"},
    ]
    assert sorted(d["AttributeType"] for d in table["AttributeDefinitions"]) == ["S", "S"]
    assert client.describe_time_to_live(TableName="flights")["TimeToLiveDescription"] == {
        "TimeToLiveStatus": "ENABLED",
        "AttributeName": TTL_ATTRIBUTE,
    }
    assert tags_of(client.list_tags_of_resource(ResourceArn=arn)["Tags"]) == TAGS
    assert created == ["dynamodb:CreateTable", "dynamodb:UpdateTimeToLive"]
    assert calls.mutating() == []


def test_deploy_creates_the_table_and_wires_the_lambda_to_it(cli: Cli, aws: Aws) -> None:
    code, out = cli("deploy")

    assert code == 0, out
    table = aws.client("dynamodb").describe_table(TableName=TABLE)["Table"]
    assert table["TableArn"] == TABLE_ARN == NAMES.flight_table_arn
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert table_tags(aws) == TAGS
    ttl = aws.client("dynamodb").describe_time_to_live(TableName=TABLE)["TimeToLiveDescription"]
    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": TTL_ATTRIBUTE}
    function = aws.client("lambda").get_function_configuration(FunctionName="delaycast-predict")
    assert function["Environment"]["Variables"]["DELAYCAST_FLIGHT_TABLE"] == TABLE
    role_policy = aws.client("iam").get_role_policy(RoleName="delaycast-predict", PolicyName="delaycast")
    (read,) = [s for s in role_policy["PolicyDocument"]["Statement"] if s["Sid"] == "ReadFlightTable"]
    assert read["Resource"] == table["TableArn"]
    assert "created   DynamoDB table delaycast-flights (on demand, TTL on expires_at)" in out


def test_deploy_creates_the_ingest_policy(cli: Cli, aws: Aws) -> None:
    assert cli("deploy")[0] == 0

    policy = aws.client("iam").get_policy(PolicyArn=POLICY_ARN)["Policy"]
    assert policy["Path"] == "/delaycast/"
    assert default_document(aws) == ingest_policy(NAMES)
    assert tags_of(aws.client("iam").list_policy_tags(PolicyArn=POLICY_ARN)["Tags"]) == TAGS


def test_a_second_deploy_leaves_table_and_policy_alone(cli: Cli, calls: Calls) -> None:
    assert cli("deploy")[0] == 0
    calls.clear()

    code, out = cli("deploy")

    assert code == 0, out
    assert not [call for call in calls.mutating() if call.startswith(("dynamodb:", "iam:"))]
    assert "unchanged DynamoDB table delaycast-flights" in out
    assert "unchanged IAM policy delaycast-ingest" in out


def test_a_changed_ingest_policy_is_put_back_as_a_new_default_version(cli: Cli, aws: Aws) -> None:
    assert cli("deploy")[0] == 0
    wider = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "dynamodb:*", "Resource": "*"}]}
    aws.client("iam").create_policy_version(PolicyArn=POLICY_ARN, PolicyDocument=json.dumps(wider), SetAsDefault=True)

    code, out = cli("deploy")

    assert code == 0, out
    assert default_document(aws) == ingest_policy(NAMES)
    assert len(aws.client("iam").list_policy_versions(PolicyArn=POLICY_ARN)["Versions"]) == 2
    assert "updated   IAM policy delaycast-ingest" in out


def test_a_table_of_another_stack_is_not_taken_over(session: boto3.Session, moto: str, cli: Cli, aws: Aws) -> None:
    create_table(session.client("dynamodb", endpoint_url=moto), TABLE, OTHER)

    code, _ = cli("deploy")

    assert code == 2
    assert table_tags(aws) == OTHER


def test_teardown_deletes_the_table_and_the_policy_and_nothing_of_other_stacks(
    session: boto3.Session, moto: str, cli: Cli, aws: Aws
) -> None:
    assert cli("deploy")[0] == 0
    create_table(session.client("dynamodb", endpoint_url=moto), "delaycast-dev-flights", OTHER)

    code, out = cli("teardown", "--yes")

    assert code == 0, out
    assert aws.client("dynamodb").list_tables()["TableNames"] == ["delaycast-dev-flights"]
    assert aws.client("iam").list_policies(Scope="Local")["Policies"] == []
    assert "deleted   DynamoDB table delaycast-flights (with every item)" in out
    assert "deleted   IAM policy delaycast-ingest" in out


def test_the_plan_shows_the_table_and_the_policy(cli: Cli) -> None:
    code, out = cli("plan")

    assert code == 0, out
    assert "DynamoDB table: delaycast-flights" in out
    assert f'TimeToLiveSpecification: {{"Enabled": true, "AttributeName": "{TTL_ATTRIBUTE}"}}' in out
    assert "BillingMode: PAY_PER_REQUEST" in out
    assert "IAM policy: delaycast-ingest" in out
    assert "DynamoDB tables" in cli("teardown", "--dry-run")[1]


def test_the_lambda_zip_ships_the_store_and_the_context() -> None:
    assert {"delaycast/store.py", "delaycast/context.py"} <= set(LAMBDA_FILES)
