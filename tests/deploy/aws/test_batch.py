"""`batch` against moto: a Batch Transform job with the deployed model, over an S3 prefix of CSV.

moto marks the job Completed at once and runs nothing: the container's /invocations and
/execution-parameters under SAGEMAKER_BATCH are tested in tests/serve, not here.
"""

from __future__ import annotations

from deploy.aws.session import Aws
from tests.deploy.aws.support import ACCOUNT, REGION, Calls, Cli


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


def test_batch_keeps_good_rows_and_counts_the_refused_ones_per_file(cli: Cli, aws: Aws, calls: Calls) -> None:
    assert cli("deploy")[0] == 0
    bucket, job = f"delaycast-{ACCOUNT}-{REGION}", "delaycast-batch-20260102-030405"
    s3 = aws.client("s3")
    # moto runs no container: the outputs the job would write are put in place before it "completes".
    outputs = {
        "a.csv.out": b'no delay,0.1,0.5\nerror,"a blank line"\ndelay,0.7,0.5\nerror,"field carrier: \'?\' is"\n',
        "b.csv.out": b"no delay,0.1,0.5\n",
    }
    for name, body in outputs.items():
        s3.put_object(Bucket=bucket, Key=f"batch/output/{job}/{name}", Body=body)

    code, out = cli("batch", "--wait")

    assert code == 0, out
    # moto does not keep a transform job's Environment: the request says what SageMaker is told.
    (request,) = calls.named("CreateTransformJob")
    assert request["Environment"] == {"DELAYCAST_BAD_RECORDS": "report"}
    assert f"s3://{bucket}/batch/output/{job}/a.csv.out: 2 of 4 records refused" in out
    assert f"s3://{bucket}/batch/output/{job}/b.csv.out: 0 of 1 records refused" in out


def test_without_wait_nothing_is_counted(cli: Cli, calls: Calls) -> None:
    assert cli("deploy")[0] == 0
    code, out = cli("batch")
    assert code == 0, out
    assert "records refused" not in out
    assert not calls.named("GetObject")
