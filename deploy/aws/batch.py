"""Batch Transform: score every CSV file under an S3 prefix with the stack's model, one line per flight.

Input files are CSV without a header, in the model's field order (the
manifest's input_schema), as the endpoint takes them: SageMaker splits them on
newlines (SplitType Line) and sends mini-batches of lines (MULTI_RECORD) of at
most MaxPayloadInMB; each `NAME.csv` gives `NAME.csv.out` with one
`label,probability,threshold` line per input line.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from deploy.aws.config import Config
from deploy.aws.names import Names, tag_list
from deploy.aws.session import Context, DeployError


def transform_job_name(names: Names, now: datetime) -> str:
    """<stack>-batch-<UTC time>: unique per second."""
    return f"{names.stack}-batch-{now:%Y%m%d-%H%M%S}"


def transform_request(names: Names, config: Config, model: str, job: str) -> dict[str, Any]:
    """CreateTransformJob over the input prefix; results go to <output prefix>/<job>/."""
    source, target = names.batch_locations(config.batch)
    return {
        "TransformJobName": job,
        "ModelName": model,
        "BatchStrategy": "MULTI_RECORD",
        "MaxPayloadInMB": config.batch.max_payload_mb,
        "TransformInput": {
            "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": source.uri}},
            "ContentType": "text/csv",
            "SplitType": "Line",
            "CompressionType": "None",
        },
        "TransformOutput": {"S3OutputPath": f"{target.uri}{job}/", "Accept": "text/csv", "AssembleWith": "Line"},
        "TransformResources": {
            "InstanceType": config.batch.instance_type,
            "InstanceCount": config.batch.instance_count,
        },
        "Tags": tag_list(names.tags),
    }


def start_transform(ctx: Context, request: dict[str, Any]) -> None:
    """Start the job."""
    ctx.client("sagemaker").create_transform_job(**request)
    ctx.report(
        "started",
        "Batch Transform job",
        request["TransformJobName"],
        f"{request['TransformInput']['DataSource']['S3DataSource']['S3Uri']} -> "
        f"{request['TransformOutput']['S3OutputPath']}",
    )


def wait_for_transform(ctx: Context, job: str) -> None:
    """Poll until the job ends, printing progress; DeployError with SageMaker's reason unless it completed."""
    waited = 0.0
    while True:
        described = ctx.client("sagemaker").describe_transform_job(TransformJobName=job)
        status = described["TransformJobStatus"]
        if status == "Completed":
            ctx.report.progress(f"job {job}: Completed")
            return
        if status in ("Failed", "Stopped"):
            raise DeployError(f"job {job} {status}: {described.get('FailureReason', 'no reason given')}")
        ctx.report.progress(f"job {job}: {status}, {waited / 60:.1f} min so far")
        ctx.sleep(ctx.poll_seconds)
        waited += ctx.poll_seconds
