"""Numbers from the environment: the type of the default, within a range, named when wrong."""

from __future__ import annotations

import pytest

from delaycast.environment import env_number
from delaycast.errors import ConfigError


def test_unset_or_blank_gives_the_default_and_the_default_gives_the_type() -> None:
    assert env_number({}, "N", 4, 1, 64) == 4
    assert env_number({"N": "  "}, "N", 4, 1, 64) == 4
    assert env_number({"N": " 8 "}, "N", 4, 1, 64) == 8
    assert env_number({"N": "2.5"}, "N", 6.0, 0.001, 100.0) == 2.5


@pytest.mark.parametrize(
    ("text", "default", "message"),
    [
        ("lots", 4, "N='lots' is not a whole number from 1 to 64"),
        ("2.5", 4, "N='2.5' is not a whole number from 1 to 64"),
        ("65", 4, "N='65' is outside 1..64"),
        ("x", 6.0, "N='x' is not a number from 1 to 64"),
    ],
)
def test_a_bad_value_is_named(text: str, default: float, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        env_number({"N": text}, "N", default, 1, 64)
