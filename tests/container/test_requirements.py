"""The pins live in requirements/runtime.txt; serve.txt and train.txt name its two parts, between them all of it."""

from __future__ import annotations

from pathlib import Path

REQUIREMENTS = Path(__file__).resolve().parents[2] / "requirements"


def names(file: str) -> dict[str, str]:
    """Package name -> the whole requirement line, for every requirement in the file (options and comments aside)."""
    lines = (line.split("#")[0].strip() for line in (REQUIREMENTS / file).read_text().splitlines())
    return {line.split("==")[0].lower(): line for line in lines if line and not line.startswith("-")}


def test_runtime_pins_every_package_exactly() -> None:
    assert all("==" in line for line in names("runtime.txt").values())


def test_serve_and_train_split_runtime_and_pin_nothing_themselves() -> None:
    serve, train = names("serve.txt"), names("train.txt")
    assert not set(serve) & set(train)
    assert set(serve) | set(train) == set(names("runtime.txt"))
    assert not any("==" in line for line in [*serve.values(), *train.values()])
    for file in ("serve.txt", "train.txt"):
        assert "-c runtime.txt" in (REQUIREMENTS / file).read_text().splitlines()
