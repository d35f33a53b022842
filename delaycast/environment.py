"""Settings read from the environment: one rule for a number with a range, shared by the server and the Lambda.

Pure Python (the Lambda ships this file). Each service reads its settings once at start-up and passes them in.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

from delaycast.errors import ConfigError

Number = TypeVar("Number", int, float)


def env_number(env: Mapping[str, str], name: str, default: Number, low: Number, high: Number) -> Number:
    """The number `name` holds, of `default`'s type, within low..high; `default` when unset or blank.

    ConfigError names the variable and what it holds.
    """
    text = env.get(name, "").strip()
    if not text:
        return default
    kind = "a whole number" if isinstance(default, int) else "a number"
    try:
        value = type(default)(text)
    except ValueError:
        raise ConfigError(f"{name}={text!r} is not {kind} from {low} to {high}") from None
    if not low <= value <= high:
        raise ConfigError(f"{name}={text!r} is outside {low}..{high}")
    return value
