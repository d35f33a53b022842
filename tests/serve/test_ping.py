"""/ping answers within 200 ms p99 whatever else the server does (`python -m serve --workers 2`, 127.0.0.1, bounded),
and reports the true state: a worker that cannot score answers 500."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from flask.testing import FlaskClient

from bench.ping_bench import measure, served
from serve.runtime import ModelRuntime


def p99_limit_ms() -> float:
    """200 ms on a machine no busier than its cores; in proportion above (the machine is shared: at a load of 8
    on 2 cores, every process waits its turn, whatever the server does)."""
    cores = len(os.sched_getaffinity(0))
    return 200 * max(1.0, os.getloadavg()[0] / cores)


def test_ping_holds_under_16_concurrent_maximum_size_requests(model_dir: Path) -> None:
    with served(model_dir, {}) as port:
        figures = measure(port, "big", clients=16, seconds=10)
    assert figures["timeouts"] == 0, figures
    assert figures["p99_ms"] < p99_limit_ms(), figures


def test_ping_holds_with_2500_open_connections(model_dir: Path) -> None:
    with served(model_dir, {}) as port:
        figures = measure(port, "idle", clients=2500, seconds=5)
    assert figures["timeouts"] == 0, figures
    assert figures["p99_ms"] < p99_limit_ms(), figures


def test_a_worker_that_cannot_score_is_not_healthy(
    client: FlaskClient, runtime: ModelRuntime, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert client.get("/ping").status_code == 200
    monkeypatch.setattr(runtime.estimator, "predict_proba", lambda frame: np.array([[np.nan, np.nan]]))
    assert client.get("/ping").status_code == 500
    monkeypatch.setattr(runtime.estimator, "predict_proba", lambda frame: 1 / 0)
    response = client.get("/ping")
    assert response.status_code == 500
    assert "quote request id" in response.get_json()["detail"]
