"""The serverless defaults hold their worst load: the serving image under `docker run --memory 2048m` with the
workers a serverless deploy gives it, 5 concurrent 6 MiB CSV bodies (max concurrency 5) for a bounded time:
every request answers 200 and nothing is killed for memory. Prints the container's peak memory.

Needs a Docker engine: `.ci/run` starts one (../shared/tools/docker-engine.sh);
elsewhere these tests skip, unless CI=true, where a missing engine is a failure.
"""

from __future__ import annotations

import os
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from deploy.aws.config import Serverless
from deploy.aws.endpoint import model_environment
from deploy.local.chain import free_port
from tests.container.test_image import (  # skips this module as that one when no engine answers
    IMAGE,
    docker,
    image,  # noqa: F401 (the fixture that builds the images)
)

SERVING_IMAGE = f"{IMAGE}-serve"
MEMORY_MB, CONCURRENCY = 2048, 5  # the serverless defaults (deploy/aws/defaults.toml)
ROW = b"UA,1545,EWR,IAH,2013-11-05,0515,0819,1400\n"
BODY = ROW * (6 * 1024 * 1024 // len(ROW))  # the largest body InvokeEndpoint passes (6 MiB)
LOAD_SECONDS = 20.0
# The cgroup's high-water mark and OOM kills, inside the container: cgroup v2's names, then v1's.
PEAK_FILES = ("/sys/fs/cgroup/memory.peak", "/sys/fs/cgroup/memory/memory.max_usage_in_bytes")
OOM_FILES = ("/sys/fs/cgroup/memory.events", "/sys/fs/cgroup/memory/memory.oom_control")
READ_FILE = "import sys; print(open(sys.argv[1]).read())"  # the serving image has python3, not cat

pytestmark = pytest.mark.docker


@pytest.fixture
def limited(image: str, model_dir: Path) -> Iterator[tuple[str, str]]:  # noqa: F811 (the fixture)
    """The serving image as a serverless variant of the default size runs it: 2,048 MB, no swap, its workers."""
    environment = model_environment(Serverless(MEMORY_MB, CONCURRENCY))
    port = free_port()
    started = docker(
        "run",
        "-d",
        f"--memory={MEMORY_MB}m",
        f"--memory-swap={MEMORY_MB}m",
        "--read-only",
        "--tmpfs",
        "/tmp",
        *[option for key, value in environment.items() for option in ("-e", f"{key}={value}")],
        "-p",
        f"127.0.0.1:{port}:8080",
        "-v",
        f"{model_dir}:/opt/ml/model:ro",
        SERVING_IMAGE,
        "serve",
    )
    assert started.returncode == 0, started.stderr
    container = started.stdout.strip()
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_ping(container, url)
        yield container, url
    finally:
        docker("rm", "-f", container)


def wait_for_ping(container: str, url: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url + "/ping", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(docker("logs", container).stdout)


def post_until(url: str, until: float, statuses: Counter[str], lock: threading.Lock) -> None:
    """POST the 6 MiB body again and again until `until`; count each answer's status (or the error)."""
    while time.monotonic() < until:
        request = urllib.request.Request(url + "/invocations", data=BODY, headers={"Content-Type": "text/csv"})
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                response.read()
                status = str(response.status)
        except urllib.error.HTTPError as error:
            status = str(error.code)
        except OSError as error:  # no HTTP answer: a worker killed mid-request, for one
            status = type(error).__name__
        with lock:
            statuses[status] += 1


def cgroup_text(container: str, candidates: tuple[str, ...]) -> str:
    """The first of the cgroup files that the container can read."""
    for path in candidates:
        result = docker("exec", container, "python3", "-c", READ_FILE, path, timeout=30)
        if result.returncode == 0:
            return result.stdout
    raise AssertionError(f"none of {', '.join(candidates)} in the container")


def oom_kills(text: str) -> int:
    """The `oom_kill N` count of memory.events (v2) or memory.oom_control (v1)."""
    counts = [int(line.split()[1]) for line in text.splitlines() if line.startswith("oom_kill ")]
    assert counts, text
    return counts[0]


def test_the_serverless_defaults_hold_5_concurrent_maximum_bodies(limited: tuple[str, str]) -> None:
    container, url = limited
    statuses: Counter[str] = Counter()
    lock = threading.Lock()
    load = os.getloadavg()[0]
    until = time.monotonic() + LOAD_SECONDS
    clients = [threading.Thread(target=post_until, args=(url, until, statuses, lock)) for _ in range(CONCURRENCY)]
    for client in clients:
        client.start()
    for client in clients:
        client.join(timeout=LOAD_SECONDS + 90)
    assert not any(client.is_alive() for client in clients)
    peak_mb = int(cgroup_text(container, PEAK_FILES)) / 1e6
    kills = oom_kills(cgroup_text(container, OOM_FILES))
    state = docker("inspect", "--format", "{{.State.OOMKilled}} {{.State.Running}}", container).stdout.split()
    print(
        f"{MEMORY_MB} MB, {model_environment(Serverless(MEMORY_MB, CONCURRENCY))}, {CONCURRENCY} x 6 MiB CSV for "
        f"{LOAD_SECONDS:.0f} s: {dict(statuses)}, peak {peak_mb:,.0f} MB, {kills} OOM kills, load {load:.1f}"
    )
    assert set(statuses) == {"200"}, statuses
    assert statuses["200"] >= CONCURRENCY, statuses
    assert kills == 0
    assert state == ["false", "true"], state
