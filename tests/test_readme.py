"""The README's API examples stay true: each request is sent through the real local chain."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from deploy.local.chain import local_chain, post_json

README = Path(__file__).resolve().parents[1] / "README.md"
EXAMPLE = re.compile(r"<!-- api-example status=(\d+) -->\s*```json\n(.*?)```\s*```json\n(.*?)```", re.DOTALL)


def examples() -> list[tuple[int, Any, Any]]:
    found = [(int(s), json.loads(q), json.loads(a)) for s, q, a in EXAMPLE.findall(README.read_text())]
    assert len(found) >= 4, "the README lost its API examples"
    return found


@pytest.fixture(scope="module")
def predict_url(model_dir: Path) -> Iterator[str]:
    with local_chain(model_dir, use_docker=False) as url:
        yield url


def same_shape(documented: Any, actual: Any) -> None:
    """Same keys and types; labels agree with probability and threshold."""
    if isinstance(documented, list):
        assert isinstance(actual, list)
        assert len(actual) == len(documented)
        for doc, act in zip(documented, actual, strict=True):
            same_shape(doc, act)
        return
    assert set(actual) == set(documented)
    assert all(type(actual[k]) is type(documented[k]) for k in documented)
    assert actual["prediction"] == ("delay" if actual["probability"] >= actual["threshold"] else "no delay")


@pytest.mark.parametrize(("status", "request_body", "documented"), examples())
def test_readme_example(predict_url: str, status: int, request_body: Any, documented: Any) -> None:
    actual_status, actual = post_json(predict_url, request_body)
    assert actual_status == status
    if status == 200:
        same_shape(documented, actual)
    else:
        assert actual == documented
