"""The flight store's DynamoDB table: on demand, keys pk + sk (strings), TTL on `expires_at`, the stack's tags.

`create_table` needs only a DynamoDB client (the local chain calls it on moto); `ensure_table` is the deploy
step, which also refuses a table of another stack and brings billing mode, TTL and tags in line.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from delaycast.errors import ConfigError
from delaycast.store import TTL_ATTRIBUTE
from deploy.aws.names import belongs, tag_list, tag_map
from deploy.aws.session import Context, absent_on

BILLING_MODE = "PAY_PER_REQUEST"
TTL_SPECIFICATION = {"Enabled": True, "AttributeName": TTL_ATTRIBUTE}
NOT_FOUND = ("ResourceNotFoundException",)


def table_request(name: str, tags: Mapping[str, str]) -> dict[str, Any]:
    """CreateTable: on-demand, partition key pk and sort key sk, both strings."""
    return {
        "TableName": name,
        "AttributeDefinitions": [
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        "BillingMode": BILLING_MODE,
        "Tags": tag_list(tags),
    }


def create_table(client: Any, name: str, tags: Mapping[str, str]) -> str:
    """Create the table unless it exists, wait until it is active, enable its TTL; its ARN."""
    found = describe_table(client, name)
    if found is None:
        client.create_table(**table_request(name, tags))
        client.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 120})
        found = client.describe_table(TableName=name)["Table"]
    ensure_ttl(client, name)
    return str(found["TableArn"])


def describe_table(client: Any, name: str) -> dict[str, Any] | None:
    """The table's description, None when it does not exist."""
    described = absent_on(NOT_FOUND, lambda: client.describe_table(TableName=name))
    return None if described is None else dict(described["Table"])


def ensure_ttl(client: Any, name: str) -> bool:
    """Enable TTL on TTL_ATTRIBUTE unless it is; True when it was changed."""
    current = client.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
    if current.get("TimeToLiveStatus") in ("ENABLED", "ENABLING") and current.get("AttributeName") == TTL_ATTRIBUTE:
        return False
    client.update_time_to_live(TableName=name, TimeToLiveSpecification=TTL_SPECIFICATION)
    return True


def ensure_table(ctx: Context) -> str:
    """The deploy step: create the stack's flight table, or correct billing mode, TTL and tags; its ARN."""
    client, name, tags = ctx.client("dynamodb"), ctx.names.flight_table, ctx.names.tags
    found = describe_table(client, name)
    if found is None:
        arn = create_table(client, name, tags)
        ctx.report("created", "DynamoDB table", name, f"on demand, TTL on {TTL_ATTRIBUTE}")
        return arn
    arn = str(found["TableArn"])
    current_tags = tag_map(client.list_tags_of_resource(ResourceArn=arn).get("Tags", []))
    if not belongs(current_tags, ctx.names.stack):
        raise ConfigError(f"DynamoDB table {name} exists but is not this stack's: choose another stack name")
    changed = _ensure_billing(client, found) | ensure_ttl(client, name)
    ctx.report("updated" if changed else "unchanged", "DynamoDB table", name, f"on demand, TTL on {TTL_ATTRIBUTE}")
    return arn


def _ensure_billing(client: Any, table: Mapping[str, Any]) -> bool:
    if table.get("BillingModeSummary", {}).get("BillingMode") == BILLING_MODE:
        return False
    client.update_table(TableName=table["TableName"], BillingMode=BILLING_MODE)
    return True
