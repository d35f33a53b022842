"""Names, ARNs and tags of every resource of a stack, derived from the stack name, region and account alone."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from deploy.aws.config import BatchSettings, Config, S3Location

PROJECT = "delaycast"
STACK_TAG = "delaycast:stack"
ROLE_PATH = "/delaycast/"
VARIANT = "AllTraffic"
ROUTE_KEY = "POST /predict"
STAGE = "$default"
SCALABLE_DIMENSION = "sagemaker:variant:DesiredInstanceCount"
# Shown where a value is only known once deploy talks to AWS.
UNKNOWN = "<"


def flight_table_name(stack: str) -> str:
    """The flight store's DynamoDB table of a stack (`python -m deploy.ingest --stack` finds it by this)."""
    return f"{stack}-flights"


@dataclass(frozen=True)
class Names:
    """One stack's resource names: `stack` is the prefix of each, so teardown can narrow its search."""

    stack: str
    region: str
    account: str
    partition: str = "aws"
    bucket_override: str = ""

    @classmethod
    def of(cls, config: Config, account: str = "<account>", partition: str = "aws") -> Names:
        """The names for `config` in `account` (a placeholder in a dry run)."""
        return cls(config.stack, config.region, account, partition, config.bucket)

    @property
    def tags(self) -> dict[str, str]:
        """The tags every resource of the stack carries."""
        return {"project": PROJECT, STACK_TAG: self.stack}

    @property
    def repository(self) -> str:
        """ECR repository."""
        return self.stack

    @property
    def bucket(self) -> str:
        """S3 bucket for model archives and batch data."""
        return self.bucket_override or f"{self.stack}-{self.account}-{self.region}"

    @property
    def endpoint(self) -> str:
        """SageMaker endpoint (its log group and scalable target follow)."""
        return self.stack

    @property
    def sagemaker_role(self) -> str:
        """The role SageMaker assumes to pull the image, read the model and run batch jobs."""
        return f"{self.stack}-sagemaker"

    @property
    def function(self) -> str:
        """Lambda function (and its execution role)."""
        return f"{self.stack}-predict"

    @property
    def function_log_group(self) -> str:
        """Where the function logs."""
        return f"/aws/lambda/{self.function}"

    @property
    def endpoint_log_group(self) -> str:
        """Where the endpoint's containers log."""
        return f"/aws/sagemaker/Endpoints/{self.endpoint}"

    @property
    def flight_table(self) -> str:
        """The flight store (DynamoDB): schedule, departures, coverage, airports."""
        return flight_table_name(self.stack)

    @property
    def ingest_policy(self) -> str:
        """The managed policy that may write the flight table, for whoever runs `python -m deploy.ingest`."""
        return f"{self.stack}-ingest"

    @property
    def api(self) -> str:
        """HTTP API."""
        return self.stack

    @property
    def scaling_resource(self) -> str:
        """Application Auto Scaling's id of the endpoint's variant."""
        return f"endpoint/{self.endpoint}/variant/{VARIANT}"

    @property
    def scaling_policy(self) -> str:
        """The target-tracking policy on the variant."""
        return f"{self.stack}-invocations-per-instance"

    def arn(self, service: str, resource: str, region: bool = True) -> str:
        """arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE (no region for global services)."""
        return f"arn:{self.partition}:{service}:{self.region if region else ''}:{self.account}:{resource}"

    @property
    def endpoint_arn(self) -> str:
        """The endpoint's ARN; SageMaker lowercases names in ARNs (ours are lowercase already)."""
        return self.arn("sagemaker", f"endpoint/{self.endpoint.lower()}")

    @property
    def function_arn(self) -> str:
        """The function's ARN."""
        return self.arn("lambda", f"function:{self.function}")

    @property
    def repository_arn(self) -> str:
        """The ECR repository's ARN."""
        return self.arn("ecr", f"repository/{self.repository}")

    @property
    def flight_table_arn(self) -> str:
        """The flight table's ARN."""
        return self.arn("dynamodb", f"table/{self.flight_table}")

    @property
    def ingest_policy_arn(self) -> str:
        """The ingest policy's ARN."""
        return self.arn("iam", f"policy{ROLE_PATH}{self.ingest_policy}", region=False)

    def role_arn(self, role: str) -> str:
        """An IAM role of the stack."""
        return self.arn("iam", f"role{ROLE_PATH}{role}", region=False)

    def log_group_arn(self, group: str) -> str:
        """A log group's ARN, without the trailing ":*" that log streams need."""
        return self.arn("logs", f"log-group:{group}")

    def bucket_arn(self, key_pattern: str = "") -> str:
        """The bucket, or objects under it when `key_pattern` is given."""
        return f"arn:{self.partition}:s3:::{self.bucket}" + (f"/{key_pattern}" if key_pattern else "")

    def batch_locations(self, batch: BatchSettings) -> tuple[S3Location, S3Location]:
        """Batch Transform's input and output prefixes: configured, or under batch/ in the stack's bucket."""
        return (
            batch.input or S3Location(self.bucket, "batch/input/"),
            batch.output or S3Location(self.bucket, "batch/output/"),
        )

    def api_source_arn(self, api_id: str) -> str:
        """What may invoke the function: POST /predict of this API, any stage."""
        return self.arn("execute-api", f"{api_id}/*/POST/predict")


def short_hash(*parts: str) -> str:
    """Eight hex digits identifying `parts`; a placeholder while any part is not known yet."""
    if any(UNKNOWN in part for part in parts):
        return "<hash>"
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:8]


def slug(text: str) -> str:
    """`text` with every character SageMaker names refuse made a hyphen: 0.1.0-68429b95 -> 0-1-0-68429b95."""
    return "".join(c if c.isalnum() else "-" for c in text).strip("-")


def tag_list(tags: Mapping[str, str]) -> list[dict[str, str]]:
    """Tags as [{"Key": ..., "Value": ...}] (ECR, IAM, S3, SageMaker)."""
    return [{"Key": key, "Value": value} for key, value in tags.items()]


def tag_map(tags: Iterable[Mapping[str, str]]) -> dict[str, str]:
    """[{"Key": ..., "Value": ...}] as a mapping."""
    return {tag["Key"]: tag["Value"] for tag in tags}


def belongs(tags: Mapping[str, str], stack: str) -> bool:
    """True for a resource tagged as part of `stack`."""
    return tags.get(STACK_TAG) == stack and tags.get("project") == PROJECT
