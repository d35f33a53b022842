"""The real server: `python -m serve` (gunicorn, forked workers) on 127.0.0.1."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from deploy.local.chain import free_port

REPO = Path(__file__).resolve().parents[2]
ROW = "UA,1545,EWR,IAH,2013-11-05,0515,0819,1400\n"


@dataclass
class Server:
    process: subprocess.Popen[str]
    url: str

    def request(
        self, path: str, body: bytes | None = None, content_type: str = "text/csv", timeout: float = 30
    ) -> tuple[int, bytes]:
        request = urllib.request.Request(self.url + path, data=body, headers={"Content-Type": content_type})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()


def start_server(model_dir: Path, **env: str) -> tuple[subprocess.Popen[str], str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "serve", "--model-dir", str(model_dir), "--host", "127.0.0.1", "--port", str(port)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO), "SAGEMAKER_MODEL_SERVER_WORKERS": "2", **env},
    )
    return process, f"http://127.0.0.1:{port}"


def wait_healthy(server: Server, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise AssertionError(f"server exited with code {server.process.returncode}")
        try:
            if server.request("/ping", timeout=2)[0] == 200:
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError("server never answered /ping")


@pytest.fixture
def server(model_dir: Path) -> Iterator[Server]:
    process, url = start_server(model_dir)
    running = Server(process, url)
    try:
        wait_healthy(running)
        yield running
    finally:
        if process.poll() is None:
            process.kill()
        print(process.communicate()[0])


def test_ping_and_invocations(server: Server) -> None:
    assert server.request("/ping") == (200, b"")
    status, body = server.request("/invocations", ROW.encode())
    assert status == 200
    assert json.loads(body)["predictions"][0]["prediction"] in ("delay", "no delay")
    status, body = server.request("/invocations", b"garbage", content_type="application/octet-stream")
    assert status == 415
    assert server.request("/ping")[0] == 200


def test_sigterm_drains_in_flight_requests(server: Server) -> None:
    big = (ROW * 60_000).encode()
    results: list[tuple[int, bytes]] = []
    worker = threading.Thread(target=lambda: results.append(server.request("/invocations", big, timeout=60)))
    worker.start()
    time.sleep(0.3)
    started = time.monotonic()
    server.process.send_signal(signal.SIGTERM)
    worker.join(timeout=60)
    assert server.process.wait(timeout=30) == 0
    assert time.monotonic() - started < 30
    [(status, body)] = results
    assert status == 200
    assert len(json.loads(body)["predictions"]) == 60_000


def test_logs_are_json_lines_without_payloads(model_dir: Path) -> None:
    process, url = start_server(model_dir)
    server = Server(process, url)
    try:
        wait_healthy(server)
        server.request("/invocations", b"SECRETCARRIER,1,EWR,IAH,2013-11-05,0515\n")
    finally:
        process.send_signal(signal.SIGTERM)
        output = process.communicate(timeout=30)[0]
    assert "SECRETCARRIER" not in output
    lines = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    assert any(entry.get("status") == 400 and entry.get("path") == "/invocations" for entry in lines)
    [loaded] = [entry for entry in lines if entry["message"] == "model loaded"]
    assert loaded["compiled"] is True


def test_the_entry_point_limits_openmp_before_anything_loads_it() -> None:
    script = (
        "import os, runpy, sys\n"
        "os.environ.pop('OMP_NUM_THREADS', None)\n"
        "sys.argv = ['serve', '--help']\n"
        "try:\n"
        "    runpy.run_module('serve', run_name='__main__')\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(os.environ['OMP_NUM_THREADS'], 'sklearn' in sys.modules)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    output = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, env=env)
    assert output.stdout.splitlines()[-1] == "1 False"


def test_broken_model_refuses_to_start(model_dir: Path, tmp_path: Path) -> None:
    broken = Path(shutil.copytree(model_dir, tmp_path / "model"))
    (broken / "model.skops").write_bytes(b"not a model")
    process, _ = start_server(broken)
    output = process.communicate(timeout=60)[0]
    assert process.returncode == 1
    assert "cannot start: model artifact refused" in output
    assert "does not match the manifest" in output
