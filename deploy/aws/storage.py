"""The stack's S3 bucket (public access blocked) and model.tar.gz in it, with its SHA-256 checked by S3 and kept."""

from __future__ import annotations

import base64
from typing import Any

from botocore.exceptions import ClientError

from delaycast.errors import ConfigError
from deploy.aws.artifacts import ModelArchive
from deploy.aws.names import Names, belongs, tag_list, tag_map
from deploy.aws.session import Context, absent_on, error_code

PUBLIC_ACCESS_BLOCK = {
    "BlockPublicAcls": True,
    "IgnorePublicAcls": True,
    "BlockPublicPolicy": True,
    "RestrictPublicBuckets": True,
}
NOT_FOUND = ("404", "NoSuchKey", "NoSuchBucket", "NotFound")


def bucket_request(names: Names) -> dict[str, Any]:
    """CreateBucket (us-east-1 takes no location constraint)."""
    request: dict[str, Any] = {"Bucket": names.bucket}
    if names.region != "us-east-1":
        request["CreateBucketConfiguration"] = {"LocationConstraint": names.region}
    return request


def model_object_request(names: Names, archive: ModelArchive) -> dict[str, Any]:
    """PutObject for model.tar.gz, without the body: S3 verifies ChecksumSHA256, Metadata keeps the hex digest."""
    return {
        "Bucket": names.bucket,
        "Key": archive.key,
        "ContentType": "application/gzip",
        "ChecksumSHA256": base64.b64encode(bytes.fromhex(archive.sha256)).decode(),
        "Metadata": {"sha256": archive.sha256, "model-version": archive.version},
    }


def model_data_url(names: Names, archive: ModelArchive) -> str:
    """Where SageMaker downloads model.tar.gz from."""
    return f"s3://{names.bucket}/{archive.key}"


def ensure_bucket(ctx: Context) -> None:
    """Create the bucket (private, tagged), or check that the existing one is this stack's."""
    s3 = ctx.client("s3")
    name = ctx.names.bucket
    try:
        exists = absent_on(NOT_FOUND, lambda: s3.head_bucket(Bucket=name)) is not None
    except ClientError as error:
        if error_code(error) in ("403", "AccessDenied"):
            raise ConfigError(f"bucket {name} exists in another account: set `bucket` to another name") from None
        raise
    if exists:
        _check_ours(ctx, name)
        ctx.report("unchanged", "S3 bucket", name)
        return
    s3.create_bucket(**bucket_request(ctx.names))
    s3.put_public_access_block(Bucket=name, PublicAccessBlockConfiguration=PUBLIC_ACCESS_BLOCK)
    s3.put_bucket_tagging(Bucket=name, Tagging={"TagSet": tag_list(ctx.names.tags)})
    ctx.report("created", "S3 bucket", name, "public access blocked")


def _check_ours(ctx: Context, name: str) -> None:
    tags = absent_on(("NoSuchTagSet",), lambda: ctx.client("s3").get_bucket_tagging(Bucket=name)["TagSet"])
    if not belongs(tag_map(tags or []), ctx.names.stack):
        raise ConfigError(f"bucket {name} exists but is not this stack's (no tag delaycast:stack={ctx.names.stack})")


def upload_model(ctx: Context, archive: ModelArchive) -> str:
    """Upload model.tar.gz unless the same SHA-256 is already there; its s3:// URL."""
    request = model_object_request(ctx.names, archive)
    head = absent_on(NOT_FOUND, lambda: ctx.client("s3").head_object(Bucket=request["Bucket"], Key=request["Key"]))
    url = model_data_url(ctx.names, archive)
    if head is not None and head.get("Metadata", {}).get("sha256") == archive.sha256:
        ctx.report("unchanged", "model archive", url)
        return url
    ctx.client("s3").put_object(Body=archive.path.read_bytes(), **request)
    ctx.report("created", "model archive", url, f"{archive.size:,} bytes, sha256 {archive.sha256[:16]}...")
    return url
