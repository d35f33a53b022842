"""The server's command line: load and verify the model, then serve it with gunicorn (SageMaker hosting contract)."""

from __future__ import annotations

import argparse
import gc
import logging
import sys
from pathlib import Path

from delaycast.errors import DelaycastError
from serve import logs
from serve.app import create_app
from serve.runtime import ModelRuntime
from serve.server import ModelServer, check_port, heartbeat_dir, limit_native_threads
from serve.settings import ServerSettings

log = logging.getLogger("delaycast.serve")


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Local overrides of the environment-derived settings."""
    parser = argparse.ArgumentParser(prog="python -m serve", description=__doc__)
    parser.add_argument("--model-dir", type=Path, help="model directory (default /opt/ml/model, DELAYCAST_MODEL_DIR)")
    parser.add_argument("--host", help="interface to bind (default 0.0.0.0, DELAYCAST_HOST)")
    parser.add_argument("--port", type=int, help="port (default 8080, SAGEMAKER_BIND_TO_PORT)")
    parser.add_argument("--workers", type=int, help="worker processes (default: the CPUs its cgroup quota allows)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Entry point: 1 with one log line when the server cannot start (settings, model, /tmp, port...)."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    logs.configure("info")
    try:
        settings = ServerSettings.from_env(
            model_dir=args.model_dir, host=args.host, port=args.port, workers=args.workers
        )
        logs.configure(settings.log_level)
        limit_native_threads()
        runtime = ModelRuntime.load(settings.model_dir)
        tmp_dir = heartbeat_dir()
        check_port(settings.host, settings.port)
    except DelaycastError as error:
        log.error("cannot start: %s: %s", error.title, error.detail)
        return 1
    except Exception as error:  # anything else found at start-up: still one line, not a traceback
        log.error("cannot start: %s: %s", type(error).__name__, error)
        return 1
    log.info(
        "serving",
        extra={"bind": f"{settings.host}:{settings.port}", "workers": settings.workers, "threads": settings.threads},
    )
    app = create_app(runtime, settings)
    gc.freeze()  # what start-up loaded stays for good: collections skip it, forked workers share it
    gc.enable()
    try:
        ModelServer(app, settings, tmp_dir).run()
    except SystemExit as stop:  # gunicorn's own exit codes (3: a worker failed to boot) are a failure to serve
        return 0 if stop.code in (None, 0) else 1
    return 0
