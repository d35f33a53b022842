"""Server settings from SageMaker's environment variables and ours."""

from __future__ import annotations

import pytest

from delaycast.errors import ConfigError
from serve.settings import ServerSettings


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
