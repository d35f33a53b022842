"""/ping latency while the server is busy: `python -m serve --workers 2` on 127.0.0.1, bounded in count and time.

Loads: N concurrent clients posting maximum-size CSV bodies (6 MiB, about 145k rows) in a loop; or N open
connections that send nothing, from a process of their own. Meanwhile one client pings every 25 ms with
SageMaker's 2 s timeout, each ping on a new connection. Prints the pings' p50 / p99 / max (ms) and how many timed out.

    python -m bench.ping_bench --model-dir build/bench/model --load big --clients 16 --seconds 20
    python -m bench.ping_bench --model-dir build/bench/model --load idle --clients 2500 --seconds 20
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import resource
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from multiprocessing.synchronize import Event
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ROW = b"UA,1545,EWR,IAH,2013-11-05,0515,0819,1400\n"
PING_TIMEOUT = 2.0  # SageMaker's
PING_EVERY = 0.025  # 40 pings a second: a p99 over hundreds, not the worst of a few dozen


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def served(model_dir: Path, env: dict[str, str]) -> Iterator[int]:
    """`python -m serve` with 2 workers on 127.0.0.1; its port, once /ping answers."""
    port = free_port()
    arguments = ["--model-dir", str(model_dir), "--host", "127.0.0.1", "--port", str(port), "--workers", "2"]
    process = subprocess.Popen(
        [sys.executable, "-m", "serve", *arguments],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": str(REPO), **env},
    )
    try:
        deadline = time.monotonic() + 60
        while ping(port) is None:
            if time.monotonic() > deadline or process.poll() is not None:
                raise SystemExit("the server did not start")
            time.sleep(0.2)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=40)


def ping(port: int) -> float | None:
    """Milliseconds for one /ping answered 200 on a new connection, None for a timeout or failure."""
    started = time.perf_counter()
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=PING_TIMEOUT)
        connection.request("GET", "/ping")
        status = connection.getresponse().status
        connection.close()
    except OSError:
        return None
    return (time.perf_counter() - started) * 1000 if status == 200 else None


def post_big(port: int, body: bytes, until: float) -> None:
    """POST the body over one keep-alive connection until `until`."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    while time.monotonic() < until:
        try:
            connection.request("POST", "/invocations", body, {"Content-Type": "text/csv"})
            connection.getresponse().read()
        except OSError:
            connection.close()
            time.sleep(0.1)


def hold_open(port: int, count: int) -> list[socket.socket]:
    """`count` connections that send nothing."""
    return [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(count)]


def apply_load(port: int, load: str, clients: int, seconds: float, ready: Event) -> None:
    """The load, for `seconds` (run in its own process: the pinger never waits for the load's own threads)."""
    until = time.monotonic() + seconds
    if load == "big":
        body = ROW * (6 * 1024 * 1024 // len(ROW))
        threads = [threading.Thread(target=post_big, args=(port, body, until)) for _ in range(clients)]
        for thread in threads:
            thread.start()
        time.sleep(1)  # the bodies are being sent and scored
        ready.set()
        for thread in threads:
            thread.join(timeout=seconds + 130)
    else:
        held = hold_open(port, clients)
        ready.set()
        time.sleep(max(0.0, until - time.monotonic()))
        for sock in held:
            sock.close()


def measure(port: int, load: str, clients: int, seconds: float) -> dict[str, float]:
    """Ping every PING_EVERY seconds for `seconds` under the load; the pings' figures."""
    context = multiprocessing.get_context("spawn")
    ready = context.Event()
    loader = context.Process(target=apply_load, args=(port, load, clients, seconds + 1, ready))
    loader.start()
    try:
        if not ready.wait(timeout=120):
            raise SystemExit("the load did not start")
        until = time.monotonic() + seconds
        pings: list[float | None] = []
        while time.monotonic() < until:
            pings.append(ping(port))
            time.sleep(PING_EVERY)
    finally:
        loader.join(timeout=seconds + 140)
        if loader.is_alive():
            loader.kill()
    return ping_figures(pings)


def ping_figures(pings: list[float | None]) -> dict[str, float]:
    """Count, timeouts, p50 / p99 / max (ms) of the pings answered."""
    answered = sorted(p for p in pings if p is not None)
    return {
        "pings": len(pings),
        "timeouts": len(pings) - len(answered),
        "p50_ms": round(statistics.median(answered), 1) if answered else float("nan"),
        "p99_ms": round(answered[min(len(answered) - 1, int(len(answered) * 0.99))], 1) if answered else float("nan"),
        "max_ms": round(answered[-1], 1) if answered else float("nan"),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-dir", type=Path, required=True)
    parser.add_argument("--load", choices=("big", "idle"), default="big")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--env", action="append", default=[], help="KEY=VALUE for the server")
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, args.clients + 1024)), hard))
    env = dict(item.split("=", 1) for item in args.env)
    with served(args.model_dir, env) as port:
        figures = measure(port, args.load, args.clients, args.seconds)
    load = os.getloadavg()[0]
    print(json.dumps({"load": args.load, "clients": args.clients, **figures, "loadavg_1min": round(load, 2)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
