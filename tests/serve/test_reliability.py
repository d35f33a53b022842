"""The real server under steady load and faults: memory stays flat, a killed worker is replaced.

The soak runs DELAYCAST_SOAK_SECONDS (default 20 in CI; 600 for the long form)
at a steady, bounded rate against 127.0.0.1.
"""

from __future__ import annotations

import http.client
import os
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from deploy.local.chain import free_port, process_server

ROW = b"UA,1545,EWR,IAH,2013-11-05,0515,0819,1400\n"
SOAK_SECONDS = float(os.environ.get("DELAYCAST_SOAK_SECONDS", "20"))
SOAK_RATE = 150.0  # requests/s, well below capacity: a soak looks for leaks, not limits
MAX_MEMORY_GROWTH = 0.10
WORKERS = 2


@dataclass
class LoadResult:
    ok: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)


def server_pids(port: int) -> tuple[int, list[int]]:
    """The gunicorn master listening on `port` and its worker processes."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"serve" in command and str(port).encode() in command:
            master = int(entry.name)
            children = (entry / "task" / entry.name / "children").read_text().split()
            return master, [int(c) for c in children]
    raise AssertionError(f"no server process on port {port}")


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmRSS for {pid}")


def steady_load(port: int, seconds: float, rate: float, result: LoadResult, stop: threading.Event) -> None:
    """One keep-alive client at a fixed rate; reconnects after a failure."""
    interval, deadline = 1.0 / rate, time.monotonic() + seconds
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    next_send = time.monotonic()
    while time.monotonic() < deadline and not stop.is_set():
        try:
            connection.request("POST", "/invocations", body=ROW, headers={"Content-Type": "text/csv"})
            response = connection.getresponse()
            response.read()
            if response.status == 200:
                result.ok += 1
            else:
                result.failed += 1
                result.errors.append(f"status {response.status}")
        except (OSError, http.client.HTTPException) as error:
            result.failed += 1
            result.errors.append(type(error).__name__)
            connection.close()
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        next_send += interval
        time.sleep(max(0.0, next_send - time.monotonic()))
    connection.close()


@pytest.fixture
def server_port(model_dir: Path) -> Iterator[int]:
    """A running `python -m serve` with both of its workers booted."""
    port = free_port()
    with process_server(model_dir, port, workers=WORKERS):
        deadline = time.monotonic() + 30
        while len(server_pids(port)[1]) < WORKERS and time.monotonic() < deadline:
            time.sleep(0.1)
        yield port


def test_soak_has_no_errors_and_flat_worker_memory(server_port: int) -> None:
    _, workers = server_pids(server_port)
    warm_up = max(2.0, SOAK_SECONDS * 0.2)
    result, stop = LoadResult(), threading.Event()
    clients = [
        threading.Thread(target=steady_load, args=(server_port, SOAK_SECONDS, SOAK_RATE / 2, result, stop))
        for _ in range(2)
    ]
    for client in clients:
        client.start()
    time.sleep(warm_up)
    after_warm_up = sum(rss_kib(pid) for pid in workers)
    for client in clients:
        client.join(timeout=SOAK_SECONDS + 30)
    at_end = sum(rss_kib(pid) for pid in workers)
    assert result.failed == 0, result.errors[:5]
    assert result.ok >= SOAK_RATE * SOAK_SECONDS * 0.8
    growth = (at_end - after_warm_up) / after_warm_up
    print(f"soak {SOAK_SECONDS:g} s, {result.ok} requests, worker RSS {after_warm_up} -> {at_end} KiB ({growth:+.1%})")
    assert growth < MAX_MEMORY_GROWTH


def test_a_worker_killed_under_load_is_replaced(server_port: int) -> None:
    master, workers = server_pids(server_port)
    result, stop = LoadResult(), threading.Event()
    clients = [threading.Thread(target=steady_load, args=(server_port, 30, 100, result, stop)) for _ in range(4)]
    for client in clients:
        client.start()
    time.sleep(2)
    os.kill(workers[0], signal.SIGKILL)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        _, now = server_pids(server_port)
        if len(now) == len(workers) and workers[0] not in now:
            break
        time.sleep(0.1)
    served_before = result.ok
    time.sleep(3)
    stop.set()
    for client in clients:
        client.join(timeout=30)
    _, replaced = server_pids(server_port)
    assert workers[0] not in replaced
    assert len(replaced) == len(workers)
    assert result.ok > served_before  # still answering after the kill
    assert result.failed <= 4  # at most the killed worker's in-flight requests, one per client connection
    assert server_pids(server_port)[0] == master
