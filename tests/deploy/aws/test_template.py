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
