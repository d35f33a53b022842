"""deploy/template.yaml, the same stack for AWS SAM: cfn-lint finds nothing, and it says what the CLI does.

cfn-lint checks the template against CloudFormation's and SAM's schemas offline; it does not
deploy it (moto's CloudFormation would skip the SAM transform and the API and scaling types).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from cfnlint.api import ManualArgs, lint_file
from cfnlint.decode import decode

from deploy.aws.config import SERVERLESS_MEMORY_MB
from deploy.aws.function import HANDLER, RUNTIME
from deploy.aws.roles import TABLE_READS, TABLE_WRITES
from deploy.aws.table import BILLING_MODE, TTL_SPECIFICATION

TEMPLATE = Path(__file__).resolve().parents[3] / "deploy" / "template.yaml"


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    """The template as CloudFormation reads it (short tags such as !Ref become {"Ref": ...})."""
    decoded, problems = decode(str(TEMPLATE))
    assert problems == []
    return dict(decoded)


def test_cfn_lint_finds_nothing() -> None:
    matches = lint_file(TEMPLATE, ManualArgs(regions=["us-east-1", "eu-west-1"]))

    assert [str(match) for match in matches] == []


def test_cfn_lint_is_really_checking(tmp_path: Path) -> None:
    broken = tmp_path / "template.yaml"
    broken.write_text(TEMPLATE.read_text().replace("Runtime: python3.11", "Runtime: python2.7"))

    assert any("python2.7" in str(match) for match in lint_file(broken, ManualArgs(regions=["us-east-1"])))


def test_parameters_match_the_cli(template: dict[str, Any]) -> None:
    parameters = template["Parameters"]

    assert parameters["ServerlessMemoryMB"]["AllowedValues"] == list(SERVERLESS_MEMORY_MB)
    assert (parameters["ServerlessMaxConcurrency"]["MinValue"], parameters["ServerlessMaxConcurrency"]["MaxValue"]) == (
        1,
        200,
    )
    assert parameters["EndpointMode"]["AllowedValues"] == ["serverless", "instance"]
    assert parameters["InstanceType"]["Default"] == "ml.m5.large"
    function = template["Resources"]["PredictFunction"]["Properties"]
    assert (function["Runtime"], function["Handler"], function["Timeout"]) == (RUNTIME, HANDLER, 25)
    assert function["Events"]["Predict"]["Properties"]["PayloadFormatVersion"] == "2.0"


def test_the_function_role_invokes_one_endpoint(template: dict[str, Any]) -> None:
    (policy,) = template["Resources"]["FunctionRole"]["Properties"]["Policies"]
    statements = policy["PolicyDocument"]["Statement"]

    sagemaker = [s for s in statements if str(s["Action"]).startswith("sagemaker:")]
    assert [s["Action"] for s in sagemaker] == ["sagemaker:InvokeEndpoint"]
    assert sagemaker[0]["Resource"] == {"Ref": "Endpoint"}  # the Ref of an AWS::SageMaker::Endpoint is its ARN
    assert template["Resources"]["Endpoint"]["Type"] == "AWS::SageMaker::Endpoint"


def test_the_flight_table_is_the_clis(template: dict[str, Any]) -> None:
    table = template["Resources"]["FlightTable"]

    assert table["Type"] == "AWS::DynamoDB::Table"
    properties = table["Properties"]
    assert properties["TableName"] == {"Fn::Sub": "${AWS::StackName}-flights"}
    assert properties["BillingMode"] == BILLING_MODE
    assert [k["AttributeName"] for k in properties["KeySchema"]] == ["pk", "sk"]
    assert properties["TimeToLiveSpecification"] == TTL_SPECIFICATION
    assert {t["Key"] for t in properties["Tags"]} == {"project", "delaycast:stack"}


def test_the_lambda_reads_the_table_and_ingest_writes_it(template: dict[str, Any]) -> None:
    resources = template["Resources"]
    (role,) = resources["FunctionRole"]["Properties"]["Policies"]
    table_arn = {"Fn::GetAtt": ["FlightTable", "Arn"]}
    dynamodb = [s for s in role["PolicyDocument"]["Statement"] if "dynamodb:" in str(s["Action"])]
    assert [(s["Action"], s["Resource"]) for s in dynamodb] == [(TABLE_READS, table_arn)]
    (write,) = resources["IngestPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert (write["Action"], write["Resource"]) == (TABLE_WRITES, table_arn)
    variables = resources["PredictFunction"]["Properties"]["Environment"]["Variables"]
    assert variables["DELAYCAST_FLIGHT_TABLE"] == {"Ref": "FlightTable"}
