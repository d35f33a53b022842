"""Lambda handler benchmark: its own overhead per request (the endpoint answered by a canned reply) and cold start.

    python -m bench.handler_bench [--requests 3000]

Per request: the real `Handler.handle` on a payload 2.0 event, against a
baseline in the same run that only parses the JSON body and returns a constant
proxy response. Cold start: a fresh interpreter loading lambda/handler.py
(boto3 included) and building its client, as the first invocation does.
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from deploy.local_api import HANDLER_FILE, LambdaContext, build_event, load_handler
from serve.codecs import JsonCodec, Predictions

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
COLD_START = f"""
import time, importlib.util, sys
started = time.perf_counter()
spec = importlib.util.spec_from_file_location("handler", {str(HANDLER_FILE)!r})
module = importlib.util.module_from_spec(spec); sys.modules["handler"] = module; spec.loader.exec_module(module)
loaded = time.perf_counter()
module.Handler(module.Settings("delaycast", region="us-east-1"))
print(loaded - started, time.perf_counter() - loaded)
"""


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


def cold_start(repeats: int = 5) -> tuple[float, float]:
    """Median seconds to load the handler module and to build its boto3 client, each in a fresh interpreter."""
    loads, clients = [], []
    for _ in range(repeats):
        output = subprocess.run([sys.executable, "-c", COLD_START], capture_output=True, text=True, check=True).stdout
        load, client = (float(x) for x in output.split())
        loads.append(load)
        clients.append(client)
    return statistics.median(loads), statistics.median(clients)


def main() -> int:
    """Measure and print a table with ratios to the baseline."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=3000)
    args = parser.parse_args()
    module = sys.modules[load_handler().__module__]
    print(f"Lambda handler benchmark, {args.requests} requests per case, endpoint answered in-process")
    for name, payload in (("1 flight", FLIGHT), ("100 flights", [FLIGHT] * 100)):
        count = 1 if isinstance(payload, dict) else len(payload)
        handler = module.Handler(module.Settings("delaycast", region="us-east-1"), client=CannedEndpoint(count))
        body = json.dumps(payload).encode()
        event = build_event("2.0", "POST", "/predict", {"Content-Type": "application/json"}, body, "/predict")
        ours = per_request_us(handler.handle, event, args.requests)
        base = per_request_us(baseline, event, args.requests)
        ours_p50, base_p50 = statistics.median(ours), statistics.median(base)
        print(
            f"  {name:<12} handler p50 {ours_p50:8.1f} us  p99 {np.percentile(ours, 99):8.1f} us"
            f"   baseline p50 {base_p50:6.1f} us   ratio {ours_p50 / base_p50:5.1f}x"
        )
    load, client = cold_start()
    print(
        f"  cold start: load handler.py (boto3 included) {load * 1000:.0f} ms, build the client {client * 1000:.0f} ms"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
