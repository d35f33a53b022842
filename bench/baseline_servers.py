"""Baselines served by the same gunicorn stack as the model server, for ratios in bench.serve_bench.

python -m bench.baseline_servers constant --port P      # the HTTP ceiling: a constant answer
python -m bench.baseline_servers byoc --port P --model-dir D
    # what the original BYOC example does per request: pandas.read_csv, the sklearn pipeline, CSV out
"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

import pandas as pd
from flask import Flask, Response, request

from delaycast.artifact import load_model
from delaycast.fields import FIELD_NAMES
from serve.server import ModelServer, limit_native_threads
from serve.settings import ServerSettings

CONSTANT = b'{"model_version":"constant","predictions":[{"prediction":"no delay","probability":0.1,"threshold":0.2}]}'


def constant_app() -> Flask:
    """Answers every /invocations with the same bytes: the cost of the HTTP stack alone."""
    app = Flask("constant")

    @app.get("/ping")
    def ping() -> Response:
        return Response(status=200)

    @app.post("/invocations")
    def invocations() -> Response:
        request.get_data()
        return Response(CONSTANT, mimetype="application/json")

    return app


def byoc_app(model_dir: Path) -> Flask:
    """The reference BYOC server: pandas.read_csv and the whole pipeline for every request."""
    estimator = load_model(model_dir).estimator
    app = Flask("byoc")

    @app.get("/ping")
    def ping() -> Response:
        return Response(status=200)

    @app.post("/invocations")
    def invocations() -> Response:
        frame = pd.read_csv(io.StringIO(request.get_data(as_text=True)), header=None)
        frame.columns = list(FIELD_NAMES[: frame.shape[1]])
        for name in FIELD_NAMES[frame.shape[1] :]:
            frame[name] = float("nan")
        frame["flight_date"] = pd.to_datetime(frame["flight_date"])
        probabilities = estimator.predict_proba(frame)[:, 1]
        return Response("\n".join(str(p) for p in probabilities), mimetype="text/csv")

    return app


def main() -> int:
    """Serve one baseline on 127.0.0.1 with the model server's gunicorn settings."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("kind", choices=("constant", "byoc"))
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--model-dir", type=Path)
    args = parser.parse_args()
    # The model server's settings from the same environment (worker class, threads), on our port.
    settings = ServerSettings.from_env(host="127.0.0.1", port=args.port, workers=args.workers, log_level="warning")
    limit_native_threads()
    app = constant_app() if args.kind == "constant" else byoc_app(args.model_dir)
    ModelServer(app, settings).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
