"""Lambda handler benchmark: its own overhead per request (the endpoint answered by a canned reply) and cold start.

    python -m bench.handler_bench [--requests 3000] [--cold-starts 11]

Per request: the real `Handler.handle` on a payload 2.0 event, against a
baseline in the same run that only parses the JSON body and returns a constant
proxy response. Cold start: the deployment zip unpacked, then a fresh isolated
interpreter that sees only it (and boto3) imports the handler, builds it from the
environment (its boto3 client included) and answers one flight, as the first
invocation of a new container does; medians over the runs.
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

from deploy.aws.artifacts import package_lambda
from deploy.local.api import LambdaContext, build_event, load_handler
from serve.codecs import JsonCodec
from serve.payloads import Predictions

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
import io, json, sys, time
started = time.perf_counter()
sys.path.insert(0, ".")
from delaycast_api.handler import container_handler, lambda_handler
imported = time.perf_counter()
handler = container_handler()
built = time.perf_counter()
answer = b'{"model_version":"bench","predictions":[{"prediction":"delay","probability":0.27,"threshold":0.2}]}'
handler.client = type("Canned", (), {"invoke_endpoint": lambda self, **_: {"Body": io.BytesIO(answer)}})()
event = {"version": "2.0", "requestContext": {"http": {"method": "POST"}, "requestId": "bench"},
         "headers": {"content-type": "application/json"}, "body": sys.argv[1], "isBase64Encoded": False}
assert lambda_handler(event, None)["statusCode"] == 200
print(imported - started, built - imported, time.perf_counter() - built)
"""
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
    parser.add_argument("--cold-starts", type=int, default=11)
    args = parser.parse_args()
    load_handler()  # puts lambda/ on sys.path
    from delaycast_api.handler import Handler
    from delaycast_api.settings import Settings

    print(f"Lambda handler benchmark, {args.requests} requests per case, endpoint answered in-process")
    for name, payload in (("1 flight", FLIGHT), ("100 flights", [FLIGHT] * 100)):
        count = 1 if isinstance(payload, dict) else len(payload)
        handler = Handler(Settings("delaycast", region="us-east-1"), client=CannedEndpoint(count))
        body = json.dumps(payload).encode()
        event = build_event("2.0", "POST", "/predict", {"Content-Type": "application/json"}, body, "/predict")
        ours = per_request_us(handler.handle, event, args.requests)
        base = per_request_us(baseline, event, args.requests)
        ours_p50, base_p50 = statistics.median(ours), statistics.median(base)
        print(
            f"  {name:<12} handler p50 {ours_p50:8.1f} us  p99 {np.percentile(ours, 99):8.1f} us"
            f"   baseline p50 {base_p50:6.1f} us   ratio {ours_p50 / base_p50:5.1f}x"
        )
    medians = cold_start(args.cold_starts)
    print(f"  cold start from the zip, median of {args.cold_starts} (boto3 included):")
    print("   " + ", ".join(f"{phase} {seconds * 1000:.0f} ms" for phase, seconds in medians.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
