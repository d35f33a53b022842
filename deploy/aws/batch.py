"""Batch Transform: score every CSV file under an S3 prefix with the stack's model, one line per flight.

Input files are CSV without a header, in the model's field order (the
manifest's input_schema), as the endpoint takes them: SageMaker splits them on
newlines (SplitType Line) and sends mini-batches of lines (MULTI_RECORD) of at
most MaxPayloadInMB; each `NAME.csv` gives `NAME.csv.out` with one
`label,probability,threshold` line per input line. The container runs with
DELAYCAST_BAD_RECORDS=report: a record it refuses is an `error,"<what is wrong>"`
line in its place, so that one bad row fails nothing; with --wait, the command
counts those lines per output file.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from delaycast.records import REFUSED_LABEL
from deploy.aws.config import Config, parse_s3_uri
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
        "Environment": {"DELAYCAST_BAD_RECORDS": "report"},
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
            report_refused_records(ctx, described["TransformOutput"]["S3OutputPath"])
            return
        if status in ("Failed", "Stopped"):
            raise DeployError(f"job {job} {status}: {described.get('FailureReason', 'no reason given')}")
        ctx.report.progress(f"job {job}: {status}, {waited / 60:.1f} min so far")
        ctx.sleep(ctx.poll_seconds)
        waited += ctx.poll_seconds


def report_refused_records(ctx: Context, output_uri: str) -> None:
    """Print, for each output file of a job, how many of its records the model refused."""
    output = parse_s3_uri(output_uri, "the job's output")
    s3 = ctx.client("s3")
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=output.bucket, Prefix=output.prefix):
        for item in page.get("Contents", []):
            lines, refused = refused_lines(s3.get_object(Bucket=output.bucket, Key=item["Key"])["Body"].iter_lines())
            ctx.report.progress(f"s3://{output.bucket}/{item['Key']}: {refused} of {lines} records refused")


def refused_lines(lines: Iterable[bytes]) -> tuple[int, int]:
    """How many lines an output file holds, and how many of them are refused records."""
    marker = REFUSED_LABEL.encode() + b","
    total = refused = 0
    for line in lines:
        total += 1
        refused += line.startswith(marker)
    return total, refused
