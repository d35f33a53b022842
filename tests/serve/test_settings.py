"""Server settings from SageMaker's environment variables and ours."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from delaycast.errors import ConfigError
from serve.settings import ServerSettings, cpu_quota, usable_cpus


def test_defaults_follow_the_hosting_contract() -> None:
    settings = ServerSettings.from_env({})
    assert (settings.host, settings.port, settings.max_payload_bytes) == ("0.0.0.0", 8080, 6 * 1024 * 1024)
    assert settings.access_log is False


@pytest.mark.parametrize("worker_class", ["sync", "gthread", " SYNC "])
def test_worker_class_choice(worker_class: str) -> None:
    assert (
        ServerSettings.from_env({"DELAYCAST_WORKER_CLASS": worker_class}).worker_class == worker_class.strip().lower()
    )


@pytest.mark.parametrize(
    ("raw", "expected"), [("true", True), ("1", True), (" YES ", True), ("false", False), ("0", False)]
)
def test_access_log_switch(raw: str, expected: bool) -> None:
    assert ServerSettings.from_env({"DELAYCAST_ACCESS_LOG": raw}).access_log is expected


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"DELAYCAST_ACCESS_LOG": "maybe"}, "DELAYCAST_ACCESS_LOG='maybe' is not one of"),
        ({"DELAYCAST_WORKER_CLASS": "gevent"}, "DELAYCAST_WORKER_CLASS='gevent' is not one of gthread, sync"),
        ({"SAGEMAKER_BIND_TO_PORT": "http"}, "SAGEMAKER_BIND_TO_PORT='http' is not a whole number"),
        ({"SAGEMAKER_MAX_PAYLOAD_IN_MB": "500"}, "SAGEMAKER_MAX_PAYLOAD_IN_MB='500' is outside"),
        (
            {"SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT": "application/xml"},
            "SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT='application/xml' is not one of text/csv, application/json",
        ),
    ],
)
def test_bad_values_are_refused_by_name(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        ServerSettings.from_env(env)


def test_the_default_answer_type_is_sagemakers_setting() -> None:
    assert ServerSettings.from_env({}).default_accept == "application/json"
    settings = ServerSettings.from_env({"SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT": "text/csv"})
    assert settings.default_accept == "text/csv"


@pytest.mark.parametrize(
    ("files", "quota"),
    [
        ({"cpu.max": "150000 100000\n"}, 1.5),
        ({"cpu.max": "max 100000\n"}, None),
        ({"cpu/cpu.cfs_quota_us": "100000\n", "cpu/cpu.cfs_period_us": "100000\n"}, 1.0),
        ({"cpu/cpu.cfs_quota_us": "-1\n", "cpu/cpu.cfs_period_us": "100000\n"}, None),
        ({}, None),
    ],
)
def test_the_cgroup_cpu_quota_v2_then_v1(tmp_path: Path, files: dict[str, str], quota: float | None) -> None:
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    assert cpu_quota(tmp_path) == quota


def test_default_workers_follow_the_quota_rounded_up(tmp_path: Path) -> None:
    (tmp_path / "cpu.max").write_text("50000 100000\n")  # docker run --cpus=0.5
    assert usable_cpus(tmp_path) == 1
    (tmp_path / "cpu.max").write_text(f"{150000 * 64} 100000\n")  # more than the machine has
    assert usable_cpus(tmp_path) == len(os.sched_getaffinity(0))
    assert ServerSettings.from_env({}).workers == usable_cpus()
