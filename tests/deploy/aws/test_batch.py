"""`batch` against moto: a Batch Transform job with the deployed model, over an S3 prefix of CSV.

moto marks the job Completed at once and runs nothing: the container's /invocations and
/execution-parameters under SAGEMAKER_BATCH are tested in tests/serve, not here.
"""

from __future__ import annotations

from deploy.aws.session import Aws
from tests.deploy.aws.support import ACCOUNT, REGION, Cli


def test_batch_transform_uses_the_deployed_model_and_splits_csv_by_line(cli: Cli, aws: Aws) -> None:
    assert cli("deploy")[0] == 0
    sagemaker = aws.client("sagemaker")
    config_name = sagemaker.describe_endpoint(EndpointName="delaycast")["EndpointConfigName"]
    deployed = sagemaker.describe_endpoint_config(EndpointConfigName=config_name)["ProductionVariants"][0]["ModelName"]

    code, out = cli("batch", "--input", "s3://flights-in/2013/", "--wait")

    assert code == 0, out
    job = sagemaker.describe_transform_job(TransformJobName="delaycast-batch-20260102-030405")
    assert job["ModelName"] == deployed
    assert job["BatchStrategy"] == "MULTI_RECORD"
    assert job["TransformInput"]["SplitType"] == "Line"
    assert job["TransformInput"]["ContentType"] == "text/csv"
    assert job["TransformInput"]["DataSource"]["S3DataSource"]["S3Uri"] == "s3://flights-in/2013/"
    output = f"s3://delaycast-{ACCOUNT}-{REGION}/batch/output/delaycast-batch-20260102-030405/"
    assert job["TransformOutput"]["S3OutputPath"] == output
    assert job["TransformOutput"]["AssembleWith"] == "Line"
    assert f"results under {output}" in out
    # The SageMaker role may now read that input prefix (and only that one besides the models).
    policy = aws.client("iam").get_role_policy(RoleName="delaycast-sagemaker", PolicyName="delaycast")["PolicyDocument"]
    reads = [s["Resource"] for s in policy["Statement"] if s["Sid"] == "ReadBatchInput"]
    assert reads == ["arn:aws:s3:::flights-in/2013/*"]
