"""Log groups the stack owns: created before Lambda or SageMaker would create them, so they get a retention and tags."""

from __future__ import annotations

from deploy.aws.session import Context, differs


def ensure_log_group(ctx: Context, name: str, retention_days: int) -> None:
    """Create the log group with its retention and tags, or bring an existing one (Lambda makes its own) in line."""
    logs = ctx.client("logs")
    groups = logs.describe_log_groups(logGroupNamePrefix=name)["logGroups"]
    current = next((group for group in groups if group["logGroupName"] == name), None)
    if current is None:
        logs.create_log_group(logGroupName=name, tags=ctx.names.tags)
        logs.put_retention_policy(logGroupName=name, retentionInDays=retention_days)
        ctx.report("created", "log group", name, f"retention {retention_days} days")
        return
    changed = current.get("retentionInDays") != retention_days
    if changed:
        logs.put_retention_policy(logGroupName=name, retentionInDays=retention_days)
    arn = current["logGroupArn"]
    if differs(ctx.names.tags, logs.list_tags_for_resource(resourceArn=arn)["tags"]):
        logs.tag_resource(resourceArn=arn, tags=ctx.names.tags)
        changed = True
    ctx.report("updated" if changed else "unchanged", "log group", name, f"retention {retention_days} days")
