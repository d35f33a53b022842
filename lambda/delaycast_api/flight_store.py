"""The flight store (DynamoDB, items as `delaycast.store` encodes them): its low-level client, the three reads the
function makes (GetItem of a schedule item, BatchGetItem of context items, a Query of the coverage items), and
what a store that cannot be reached means to the caller (`StoreUnavailable`)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, Protocol

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from delaycast.store import COVERAGE_PARTITION, Item, Key
from delaycast_api.answers import ApiError
from delaycast_api.settings import Settings

BATCH_GET_LIMIT = 100  # keys in one BatchGetItem call
UNPROCESSED_ROUNDS = 3  # BatchGetItem calls for keys DynamoDB left unprocessed, at most
RETRY_AFTER_STORE = "5"


class StoreClient(Protocol):
    """The part of boto3's DynamoDB client the function uses."""

    def get_item(self, **params: Any) -> Mapping[str, Any]:
        """Call GetItem."""
        ...

    def batch_get_item(self, **params: Any) -> Mapping[str, Any]:
        """Call BatchGetItem."""
        ...

    def query(self, **params: Any) -> Mapping[str, Any]:
        """Call Query."""
        ...


def make_store_client(settings: Settings) -> StoreClient:
    """A DynamoDB client: short timeouts, three attempts in all (throttling backs off, as botocore's standard mode
    does), the endpoint overridable (DYNAMODB_URL) for the local store."""
    config = Config(
        connect_timeout=settings.store_timeout_seconds,
        read_timeout=settings.store_timeout_seconds,
        retries={"total_max_attempts": 3, "mode": "standard"},
    )
    client: StoreClient = boto3.client(
        "dynamodb", region_name=settings.region, endpoint_url=settings.dynamodb_url, config=config
    )
    return client


class StoreUnavailable(ApiError):
    """The store did not answer, throttled after the retries, refused access, or has no such table: 503."""

    upstream = "store"

    def __init__(self, code: str, cause: str = "") -> None:
        detail = "the flight store cannot be reached; retry shortly"
        super().__init__(HTTPStatus.SERVICE_UNAVAILABLE, detail, {"Retry-After": RETRY_AFTER_STORE}, code, cause)


@dataclass(frozen=True)
class FlightStore:
    """One table of the flight store, read with strongly consistent reads of whole items."""

    client: StoreClient
    table: str

    def get(self, key: Key) -> Item | None:
        """One item (a flight's schedule item), None when there is none."""
        answer = _call(lambda: self.client.get_item(TableName=self.table, Key=key))
        item: Item | None = answer.get("Item")
        return item

    def get_many(self, keys: Sequence[Key]) -> list[Item | None]:
        """The items of `keys`, in their order (None where there is none): one BatchGetItem call for up to 100
        distinct keys, more only for keys DynamoDB leaves unprocessed."""
        distinct = list({_identity(key): key for key in keys}.values())
        found: dict[tuple[str, str], Item] = {}
        for start in range(0, len(distinct), BATCH_GET_LIMIT):
            for item in self._batch(distinct[start : start + BATCH_GET_LIMIT]):
                found[_identity(item)] = item
        return [found.get(_identity(key)) for key in keys]

    def coverage_items(self) -> list[Item]:
        """The coverage items (pk META), every page."""
        items: list[Item] = []
        params: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :meta",
            "ExpressionAttributeValues": {":meta": {"S": COVERAGE_PARTITION}},
        }
        while True:
            answer = _call(functools.partial(self.client.query, **params))
            items.extend(answer.get("Items", []))
            if "LastEvaluatedKey" not in answer:
                return items
            params["ExclusiveStartKey"] = answer["LastEvaluatedKey"]

    def _batch(self, keys: list[Key]) -> list[Item]:
        items: list[Item] = []
        request: Mapping[str, Any] = {self.table: {"Keys": keys, "ConsistentRead": True}}
        for _ in range(UNPROCESSED_ROUNDS):
            answer = _call(functools.partial(self.client.batch_get_item, RequestItems=request))
            items.extend(answer.get("Responses", {}).get(self.table, []))
            request = answer.get("UnprocessedKeys") or {}
            if not request:
                return items
        raise StoreUnavailable("UnprocessedKeys", f"{len(request[self.table]['Keys'])} keys left unprocessed")


def _call(read: Callable[[], Mapping[str, Any]]) -> Mapping[str, Any]:
    """`read()`, its failures as StoreUnavailable (the error code and AWS's message go to the log)."""
    try:
        answer = read()
    except ClientError as error:
        details = error.response.get("Error", {})
        code = str(details.get("Code") or "ClientError")
        raise StoreUnavailable(code, str(details.get("Message", ""))[:300]) from None
    except BotoCoreError as error:  # no connection, a timeout, a connection closed
        raise StoreUnavailable(type(error).__name__, str(error)[:300]) from None
    return answer


def _identity(item: Mapping[str, Any]) -> tuple[str, str]:
    return item["pk"]["S"], item["sk"]["S"]
