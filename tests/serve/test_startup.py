"""Every start-up failure of `python -m serve` is exit 1 with one log line saying why; the manifest may name only
plain files inside the model directory."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from delaycast.artifact import MANIFEST, MANIFEST_MAX_BYTES, load_model, sha256_of, verify_model_dir
from delaycast.errors import ConfigError, ModelArtifactError
from deploy.local.chain import free_port
from serve.runtime import ModelRuntime
from serve.server import heartbeat_dir

REPO = Path(__file__).resolve().parents[2]


def copied(model_dir: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(model_dir, tmp_path / "model", symlinks=True))


def with_files(model: Path, files: dict[str, str]) -> Path:
    """The model directory with its manifest's `files` replaced."""
    manifest = json.loads((model / MANIFEST).read_text())
    manifest["files"] = files
    (model / MANIFEST).write_text(json.dumps(manifest))
    return model


def start(model: Path, port: int | None = None, **env: str) -> tuple[int, list[str]]:
    """Run the server until it exits (a failure exits at once); its exit code and log lines."""
    arguments = ["--model-dir", str(model), "--host", "127.0.0.1", "--port", str(port or free_port())]
    process = subprocess.run(
        [sys.executable, "-m", "serve", *arguments],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=90,
        env={**os.environ, "PYTHONPATH": str(REPO), "SAGEMAKER_MODEL_SERVER_WORKERS": "1", **env},
    )
    return process.returncode, (process.stdout + process.stderr).splitlines()


def assert_one_line_failure(code: int, lines: list[str], words: str) -> None:
    assert code == 1, lines
    errors = [line for line in lines if '"level": "error"' in line or "Traceback" in line]
    assert len(errors) == 1, lines
    message = json.loads(errors[0])["message"]
    assert message.startswith("cannot start: ")
    assert words in message


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("/etc/passwd", "is not a relative path inside the model directory"),
        ("../outside/model.skops", "is not a relative path inside the model directory"),
        ("sub/../../model.skops", "is not a relative path inside the model directory"),
        ("", "is not a relative path"),
    ],
)
def test_the_manifest_names_only_paths_inside_the_model_directory(
    model_dir: Path, tmp_path: Path, name: str, words: str
) -> None:
    model = with_files(copied(model_dir, tmp_path), {name: "0" * 64})
    with pytest.raises(ModelArtifactError, match=words):
        verify_model_dir(model)


def test_a_symlink_out_of_the_model_directory_is_refused(model_dir: Path, tmp_path: Path) -> None:
    model = copied(model_dir, tmp_path)
    (tmp_path / "secret").write_text("outside")
    (model / "link").symlink_to(tmp_path / "secret")
    with pytest.raises(ModelArtifactError, match="'link' leads out of the model directory"):
        verify_model_dir(with_files(model, {"link": "0" * 64}))


def test_a_symlink_inside_it_and_a_directory_entry(model_dir: Path, tmp_path: Path) -> None:
    model = copied(model_dir, tmp_path)
    (model / "inner").symlink_to(model / "model.skops")
    (model / "folder").mkdir()
    files = json.loads((model / MANIFEST).read_text())["files"]
    verify_model_dir(with_files(model, {**files, "inner": sha256_of(model / "model.skops")}))  # inside: allowed
    with pytest.raises(ModelArtifactError, match="'folder' is not a plain file"):
        verify_model_dir(with_files(model, {"folder": "0" * 64}))


def test_a_device_is_no_plain_file(model_dir: Path, tmp_path: Path) -> None:
    model = copied(model_dir, tmp_path)
    (model / "zero").symlink_to("/dev/zero")
    with pytest.raises(ModelArtifactError, match="'zero' leads out of the model directory"):
        verify_model_dir(with_files(model, {"zero": "0" * 64}))


def test_the_runtime_checks_the_paths_before_reading_any_file(model_dir: Path, tmp_path: Path) -> None:
    model = with_files(copied(model_dir, tmp_path), {"/etc/passwd": "0" * 64, **{"model.skops": "0" * 64}})
    with pytest.raises(ModelArtifactError, match="'/etc/passwd' is not a relative path"):
        ModelRuntime.load(model)
    assert load_model(model_dir)  # the original is untouched


def test_no_writable_heartbeat_directory_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    assert heartbeat_dir([str(tmp_path / "file"), str(tmp_path)]) == str(tmp_path)
    with pytest.raises(ConfigError, match="read-only, full or missing"):
        heartbeat_dir([str(tmp_path / "file"), str(tmp_path / "missing")])


def test_a_deeply_nested_manifest_is_exit_1_with_one_line(model_dir: Path, tmp_path: Path) -> None:
    model = copied(model_dir, tmp_path)
    (model / MANIFEST).write_text("[" * 100_000 + "]" * 100_000)
    assert_one_line_failure(*start(model), "manifest.json: nested too deeply")


def test_a_huge_manifest_is_exit_1_with_one_line(model_dir: Path, tmp_path: Path) -> None:
    model = copied(model_dir, tmp_path)
    (model / MANIFEST).write_bytes(b" " * (MANIFEST_MAX_BYTES + 1) + b"{}")
    assert_one_line_failure(*start(model), "more than a manifest's")


def test_a_manifest_naming_a_file_outside_is_exit_1_with_one_line(model_dir: Path, tmp_path: Path) -> None:
    model = with_files(copied(model_dir, tmp_path), {"/etc/passwd": "0" * 64})
    assert_one_line_failure(*start(model), "'/etc/passwd' is not a relative path")


def test_a_port_in_use_is_exit_1_with_one_line(model_dir: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        assert_one_line_failure(*start(model_dir, port), f"cannot listen on 127.0.0.1:{port}")


def test_a_bad_setting_is_exit_1_with_one_line(model_dir: Path) -> None:
    assert_one_line_failure(*start(model_dir, DELAYCAST_BAD_RECORDS="skip"), "DELAYCAST_BAD_RECORDS='skip'")


def test_a_missing_model_is_exit_1_with_one_line(tmp_path: Path) -> None:
    assert_one_line_failure(*start(tmp_path / "nothing"), "missing")
