"""`python -m deploy.aws deploy` against moto's HTTP server: every resource, its settings and its wiring.

What moto proves less than it seems, and what these tests therefore do not claim:
- the endpoint is InService at once: no container starts, /ping is never called, the image is never pulled;
- the Lambda's code never runs (test_artifacts.py imports the zip's handler instead) and the HTTP API
  does not execute AWS_PROXY integrations, CORS or throttling: we check the configuration only;
- moto accepts values AWS refuses (a Lambda timeout of 901 s, a scaling target for a missing endpoint,
  a wrong ChecksumSHA256), so our own validation is tested separately (test_config.py);
- moto rejects newer instance families (ml.m6i, ml.c7i, ml.t3): the default is ml.m5.large;
- moto lacks UpdateEndpoint: the update tests answer it with an event hook and assert our request.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import boto3

from deploy.aws.session import Aws
from tests.deploy.aws.support import (
    ACCOUNT,
    REGION,
    REVISION,
    Calls,
    Cli,
    FakePusher,
    answer_in_place_of_moto,
    simulate_update_endpoint,
    write_model,
)

ENDPOINT_ARN = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint/delaycast"
TAGS = {"project": "delaycast", "delaycast:stack": "delaycast"}


def tags_of(items: list[dict[str, str]]) -> dict[str, str]:
    return {item["Key"]: item["Value"] for item in items}


def test_deploy_creates_every_resource_wired_together(cli: Cli, aws: Aws, pusher: FakePusher) -> None:
    code, out = cli("deploy")
    assert code == 0, out

    # ECR: repository, image pushed once under the git revision and the model version, used by digest.
    (push,) = pusher.pushes
    assert push[2] == (REVISION.tag, "model-0.1.0-aaaaaaaaaaaa")
    assert push[3].registry == f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com"
    assert push[3].password not in out
    repository = aws.client("ecr").describe_repositories(repositoryNames=["delaycast"])["repositories"][0]
    assert tags_of(aws.client("ecr").list_tags_for_resource(resourceArn=repository["repositoryArn"])["tags"]) == TAGS
    digest = aws.client("ecr").describe_images(repositoryName="delaycast")["imageDetails"][0]["imageDigest"]

    # S3: private bucket, model.tar.gz with its SHA-256.
    bucket = f"delaycast-{ACCOUNT}-{REGION}"
    s3 = aws.client("s3")
    assert tags_of(s3.get_bucket_tagging(Bucket=bucket)["TagSet"]) == TAGS
    assert all(s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"].values())
    (item,) = s3.list_objects_v2(Bucket=bucket)["Contents"]
    archive = s3.get_object(Bucket=bucket, Key=item["Key"])
    body = archive["Body"].read()
    assert archive["Metadata"]["sha256"] == hashlib.sha256(body).hexdigest()
    assert item["Key"] == f"models/0.1.0-aaaaaaaaaaaa/{hashlib.sha256(body).hexdigest()[:12]}/model.tar.gz"

    # SageMaker: model on that image and archive, run as the SageMaker role; serverless config; endpoint.
    sagemaker = aws.client("sagemaker")
    endpoint = sagemaker.describe_endpoint(EndpointName="delaycast")
    assert endpoint["EndpointStatus"] == "InService"
    config = sagemaker.describe_endpoint_config(EndpointConfigName=endpoint["EndpointConfigName"])
    (variant,) = config["ProductionVariants"]
    assert variant["ServerlessConfig"] == {"MemorySizeInMB": 2048, "MaxConcurrency": 5}
    model = sagemaker.describe_model(ModelName=variant["ModelName"])
    assert model["PrimaryContainer"]["Image"] == f"{repository['repositoryUri']}@{digest}"
    assert model["PrimaryContainer"]["ModelDataUrl"] == f"s3://{bucket}/{item['Key']}"
    assert model["PrimaryContainer"]["Environment"] == {"SAGEMAKER_MODEL_SERVER_WORKERS": "4"}
    assert model["ExecutionRoleArn"] == f"arn:aws:iam::{ACCOUNT}:role/delaycast/delaycast-sagemaker"
    for arn in (endpoint["EndpointArn"], config["EndpointConfigArn"], model["ModelArn"]):
        assert tags_of(sagemaker.list_tags(ResourceArn=arn)["Tags"]) == TAGS

    # Lambda: code, runtime, timeout, environment, role; log group with retention.
    function = aws.client("lambda").get_function(FunctionName="delaycast-predict")
    settings = function["Configuration"]
    assert (settings["Runtime"], settings["Handler"], settings["Timeout"]) == (
        "python3.11",
        "delaycast_api.handler.lambda_handler",
        25,
    )
    assert settings["Environment"]["Variables"]["ENDPOINT_NAME"] == "delaycast"
    assert settings["Role"] == f"arn:aws:iam::{ACCOUNT}:role/delaycast/delaycast-predict"
    assert function["Tags"] == TAGS
    groups = aws.client("logs").describe_log_groups(logGroupNamePrefix="/aws/")["logGroups"]
    assert {g["logGroupName"]: g["retentionInDays"] for g in groups} == {
        "/aws/lambda/delaycast-predict": 14,
        "/aws/sagemaker/Endpoints/delaycast": 14,
    }

    # The Lambda's role: the policy attached is the least-privilege one (its content: test_policies.py).
    policy = aws.client("iam").get_role_policy(RoleName="delaycast-predict", PolicyName="delaycast")["PolicyDocument"]
    assert policy["Statement"][0]["Resource"] == ENDPOINT_ARN == endpoint["EndpointArn"]

    # HTTP API: POST /predict -> the function (AWS_PROXY, 2.0), CORS, throttled $default stage, permission.
    apigw = aws.client("apigatewayv2")
    (api,) = apigw.get_apis()["Items"]
    assert api["Tags"] == TAGS
    assert api["CorsConfiguration"]["AllowMethods"] == ["OPTIONS", "POST"]
    (integration,) = apigw.get_integrations(ApiId=api["ApiId"])["Items"]
    assert integration["IntegrationType"] == "AWS_PROXY"
    assert integration["PayloadFormatVersion"] == "2.0"
    assert integration["IntegrationUri"] == settings["FunctionArn"]
    (route,) = apigw.get_routes(ApiId=api["ApiId"])["Items"]
    assert (route["RouteKey"], route["Target"]) == ("POST /predict", f"integrations/{integration['IntegrationId']}")
    stage = apigw.get_stage(ApiId=api["ApiId"], StageName="$default")
    assert stage["DefaultRouteSettings"]["ThrottlingBurstLimit"] == 20
    assert stage["DefaultRouteSettings"]["ThrottlingRateLimit"] == 10.0
    (statement,) = json.loads(aws.client("lambda").get_policy(FunctionName="delaycast-predict")["Policy"])["Statement"]
    assert statement["Principal"] == {"Service": "apigateway.amazonaws.com"}
    source = f"arn:aws:execute-api:{REGION}:{ACCOUNT}:{api['ApiId']}/*/POST/predict"
    assert statement["Condition"]["ArnLike"]["AWS:SourceArn"] == source

    assert out.rstrip().endswith(f"POST {api['ApiEndpoint']}/predict")


def test_second_deploy_changes_nothing(cli: Cli, calls: Calls, pusher: FakePusher) -> None:
    assert cli("deploy")[0] == 0
    calls.clear()

    code, out = cli("deploy")

    assert code == 0, out
    assert calls.mutating() == []  # not one Create/Put/Update/Delete/Tag/Register/Add request
    assert len(pusher.pushes) == 1  # the image for this revision is in ECR: no docker build or push
    assert "created" not in out
    assert "updated" not in out
    assert "no changes." in out


def test_new_model_version_makes_a_new_endpoint_config_and_updates_the_endpoint(
    cli: Cli, calls: Calls, aws: Aws, session: boto3.Session, tmp_path: Path
) -> None:
    assert cli("deploy")[0] == 0
    first = aws.client("sagemaker").describe_endpoint(EndpointName="delaycast")["EndpointConfigName"]
    updates = simulate_update_endpoint(session)
    calls.clear()
    newer = write_model(tmp_path / "model-2", "0.1.0-bbbbbbbbbbbb")

    code, out = cli("deploy", model=newer)

    assert code == 0, out
    configs = {c["EndpointConfigName"] for c in aws.client("sagemaker").list_endpoint_configs()["EndpointConfigs"]}
    (second,) = configs - {first}
    assert second.startswith("delaycast-0-1-0-bbbbbbbbbbbb-")
    # moto has no UpdateEndpoint: this is the request our code sent, answered by the test's hook.
    assert updates == [{"EndpointName": "delaycast", "EndpointConfigName": second, "RetainAllVariantProperties": False}]
    assert "sagemaker:DeleteEndpoint" not in calls.mutating()
    assert "sagemaker:CreateEndpoint" not in calls.mutating()
    assert "endpoint delaycast: InService" in out


def test_instance_variant_has_target_tracking_auto_scaling(cli: Cli, aws: Aws, calls: Calls) -> None:
    code, out = cli("deploy", "--mode", "instance", "--set", "endpoint.instance.max_count=4")

    assert code == 0, out
    sagemaker = aws.client("sagemaker")
    config_name = sagemaker.describe_endpoint(EndpointName="delaycast")["EndpointConfigName"]
    (variant,) = sagemaker.describe_endpoint_config(EndpointConfigName=config_name)["ProductionVariants"]
    assert (variant["InstanceType"], variant["InitialInstanceCount"]) == ("ml.m5.large", 1)
    assert "ServerlessConfig" not in variant
    scaling = aws.client("application-autoscaling")
    resource = "endpoint/delaycast/variant/AllTraffic"
    (target,) = scaling.describe_scalable_targets(ServiceNamespace="sagemaker", ResourceIds=[resource])[
        "ScalableTargets"
    ]
    assert (target["ScalableDimension"], target["MinCapacity"], target["MaxCapacity"]) == (
        "sagemaker:variant:DesiredInstanceCount",
        1,
        4,
    )
    # moto cannot list a scalable target's tags: the request is what we can check.
    assert [request["Tags"] for request in calls.named("RegisterScalableTarget")] == [TAGS]
    (policy,) = scaling.describe_scaling_policies(ServiceNamespace="sagemaker", ResourceId=resource)["ScalingPolicies"]
    tracking = policy["TargetTrackingScalingPolicyConfiguration"]
    assert policy["PolicyType"] == "TargetTrackingScaling"
    assert tracking["PredefinedMetricSpecification"]["PredefinedMetricType"] == "SageMakerVariantInvocationsPerInstance"
    assert tracking["TargetValue"] == 200.0
    # moto would register a target for an endpoint that does not exist: the order is ours to keep.
    assert out.index("created   SageMaker endpoint") < out.index("created   auto scaling")


def test_new_model_on_a_scaled_variant_keeps_scaling_and_the_instance_count(
    cli: Cli, calls: Calls, session: boto3.Session, tmp_path: Path
) -> None:
    assert cli("deploy", "--mode", "instance")[0] == 0
    updates = simulate_update_endpoint(session)
    calls.clear()

    code, out = cli("deploy", "--mode", "instance", model=write_model(tmp_path / "model-2", "0.1.0-bbbbbbbbbbbb"))

    assert code == 0, out
    # SageMaker allows a model change on a scalable target; retaining keeps the instances scaling added.
    assert [update["RetainAllVariantProperties"] for update in updates] == [True]
    assert "application-autoscaling:DeregisterScalableTarget" not in calls.mutating()


def test_changing_the_instance_type_takes_the_variant_off_auto_scaling_first(
    cli: Cli, calls: Calls, session: boto3.Session
) -> None:
    assert cli("deploy", "--mode", "instance")[0] == 0
    updates = simulate_update_endpoint(session)
    calls.clear()

    code, out = cli("deploy", "--mode", "instance", "--set", "endpoint.instance.type='ml.c5.xlarge'")

    assert code == 0, out
    mutating = calls.mutating()
    # SageMaker refuses an instance-type change on a scalable target: deregister, update, register again.
    assert mutating.index("application-autoscaling:DeregisterScalableTarget") < mutating.index(
        "sagemaker:UpdateEndpoint"
    )
    assert mutating.index("sagemaker:UpdateEndpoint") < mutating.index("application-autoscaling:RegisterScalableTarget")
    assert [update["RetainAllVariantProperties"] for update in updates] == [False]


def test_a_bucket_of_another_stack_is_refused(cli: Cli, aws: Aws) -> None:
    aws.client("s3").create_bucket(Bucket=f"delaycast-{ACCOUNT}-{REGION}")

    code, out = cli("deploy")

    assert code == 2
    assert "created   S3 bucket" not in out


def test_changed_settings_are_updated_in_place(cli: Cli, calls: Calls, aws: Aws, session: boto3.Session) -> None:
    assert cli("deploy")[0] == 0
    # moto lacks apigatewayv2 UpdateStage: the hook answers it, and the request is what we check.
    stage_updates = answer_in_place_of_moto(session, "apigatewayv2.UpdateStage", {})
    calls.clear()

    code, out = cli(
        "deploy",
        "--set",
        "api.throttle_rate=50",
        "--set",
        "api.cors_allow_origin='https://example.com'",
        "--set",
        "function.memory_mb=512",
        "--set",
        "function.architecture='x86_64'",
        "--set",
        "log_retention_days=30",
    )

    assert code == 0, out
    assert sorted(set(calls.mutating())) == [
        "apigatewayv2:UpdateApi",
        "apigatewayv2:UpdateStage",
        "lambda:UpdateFunctionCode",
        "lambda:UpdateFunctionConfiguration",
        "logs:PutRetentionPolicy",
    ]
    settings = aws.client("lambda").get_function(FunctionName="delaycast-predict")["Configuration"]
    assert settings["MemorySize"] == 512
    # moto ignores Architectures in UpdateFunctionCode: the request is what we can check.
    assert [request["Architectures"] for request in calls.named("UpdateFunctionCode")] == [["x86_64"]]
    assert settings["Environment"]["Variables"]["CORS_ALLOW_ORIGIN"] == "https://example.com"
    (api,) = aws.client("apigatewayv2").get_apis()["Items"]
    assert api["CorsConfiguration"]["AllowOrigins"] == ["https://example.com"]
    assert stage_updates == [
        {"autoDeploy": True, "defaultRouteSettings": {"throttlingBurstLimit": 20, "throttlingRateLimit": 50.0}}
    ]
    groups = aws.client("logs").describe_log_groups(logGroupNamePrefix="/aws/")["logGroups"]
    assert {group["retentionInDays"] for group in groups} == {30}
