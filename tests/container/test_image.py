"""The image on a real Docker engine: `train` under /opt/ml, `serve` on a published port.

Needs a Docker engine: `.ci/run` starts one (../shared/tools/docker-engine.sh);
elsewhere these tests skip, unless CI=true, where a missing engine is a failure.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from deploy.local.chain import docker_available, free_port

REPO = Path(__file__).resolve().parents[2]
IMAGE = "delaycast:test"
ROW = b"UA,1545,EWR,IAH,2013-11-05,0515,0819,1400\n"


if not docker_available():
    if os.environ.get("CI") == "true":
        raise RuntimeError("CI=true but no Docker engine answers: .ci/run must start it")
    pytest.skip("no Docker engine answers (start one: bash ../shared/tools/docker-engine.sh)", allow_module_level=True)

pytestmark = pytest.mark.docker


def docker(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout, check=False)


@pytest.fixture(scope="module")
def image() -> str:
    built = subprocess.run(
        [str(REPO / "container" / "build-image"), IMAGE], capture_output=True, text=True, timeout=1200, check=False
    )
    assert built.returncode == 0, built.stdout + built.stderr
    return IMAGE


@pytest.fixture(scope="module")
def trained_ml_root(image: str, flights_sample_csv: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("opt_ml")
    (root / "input" / "data" / "train").mkdir(parents=True)
    (root / "input" / "config").mkdir(parents=True)
    shutil.copy(flights_sample_csv, root / "input" / "data" / "train" / "flights.csv")
    hyperparameters = {"test_start_date": "2013-11-01", "max_iter": "30", "importance_rows": "1000"}
    (root / "input" / "config" / "hyperparameters.json").write_text(json.dumps(hyperparameters))
    trained = docker("run", "--rm", "-v", f"{root}:/opt/ml", image, "train")
    assert trained.returncode == 0, trained.stdout + trained.stderr
    assert "test:model:roc_auc=" in trained.stdout
    return root


def get(url: str, body: bytes | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "text/csv"})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


@pytest.fixture
def served(image: str, trained_ml_root: Path) -> Iterator[tuple[str, str]]:
    """`serve` as SageMaker Serverless would run it, hardened: read-only, non-root, no capabilities, tmpfs /tmp."""
    port = free_port()
    started = docker(
        "run",
        "-d",
        "--read-only",
        "--user",
        "1000",
        "--cap-drop",
        "ALL",
        "--tmpfs",
        "/tmp",
        "-p",
        f"127.0.0.1:{port}:8080",
        "-v",
        f"{trained_ml_root / 'model'}:/opt/ml/model:ro",
        image,
        "serve",
    )
    assert started.returncode == 0, started.stderr
    container = started.stdout.strip()
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if get(url + "/ping")[0] == 200:
                    break
            except OSError:
                time.sleep(0.05)
        else:
            raise AssertionError(docker("logs", container).stdout)
        yield container, url
    finally:
        docker("rm", "-f", container)


def test_train_writes_the_model_and_reports(trained_ml_root: Path) -> None:
    assert {p.name for p in (trained_ml_root / "model").iterdir()} == {"manifest.json", "model.skops", "compiled.npz"}
    assert (trained_ml_root / "output" / "data" / "metrics.json").is_file()
    assert not (trained_ml_root / "output" / "failure").exists()


def test_serve_answers_read_only_as_uid_1000_and_stops_on_sigterm(served: tuple[str, str]) -> None:
    container, url = served
    assert get(url + "/ping") == (200, b"")
    status, body = get(url + "/invocations", ROW)
    assert status == 200
    assert json.loads(body)["predictions"][0]["prediction"] in ("delay", "no delay")
    assert get(url + "/invocations", b"\x80\x03pickle")[0] == 400
    started = time.monotonic()
    assert docker("stop", "--time", "30", container).returncode == 0
    assert time.monotonic() - started < 30
    assert docker("inspect", "--format", "{{.State.ExitCode}}", container).stdout.strip() == "0"


def test_serve_refuses_a_broken_model(image: str, trained_ml_root: Path, tmp_path: Path) -> None:
    broken = Path(shutil.copytree(trained_ml_root / "model", tmp_path / "model"))
    (broken / "manifest.json").unlink()
    result = docker("run", "--rm", "-v", f"{broken}:/opt/ml/model:ro", image, "serve", timeout=120)
    assert result.returncode == 1
    assert "manifest.json: missing" in result.stdout


def test_unknown_command_prints_usage(image: str) -> None:
    result = docker("run", "--rm", image, "predict")
    assert result.returncode == 2
    assert "usage:" in result.stderr


def test_the_serving_image_says_what_it_cannot_do(image: str, trained_ml_root: Path, tmp_path: Path) -> None:
    """The serving image has no scikit-learn: no training, and no model without its compiled archive."""
    serving = f"{image}-serve"
    training = docker("run", "--rm", serving, "train")
    assert training.returncode == 2
    assert "training needs scikit-learn; this is the serving image" in training.stderr
    model = Path(shutil.copytree(trained_ml_root / "model", tmp_path / "model"))
    (model / "compiled.npz").unlink()
    serving_result = docker("run", "--rm", "-v", f"{model}:/opt/ml/model:ro", serving, "serve")
    assert serving_result.returncode == 2
    assert "has no compiled archive (compiled.npz)" in serving_result.stderr


def test_the_images_carry_no_build_tools_and_the_serving_image_no_scikit_learn(image: str) -> None:
    for name, has_sklearn in ((image, True), (f"{image}-serve", False)):
        probe = "import importlib.util as u, shutil; print(u.find_spec('sklearn') is not None, shutil.which('gcc'))"
        result = docker("run", "--rm", "--entrypoint", "python3", name, "-c", probe)
        assert result.stdout.split() == [str(has_sklearn), "None"], result.stderr
