"""Training benchmark: load + train on a synthetic Kaggle-layout year, against targets and a naive baseline.

    python -m bench.train_bench [--rows 7200000] [--seed 0] [--skip-baseline] [--hp KEY=VALUE ...]

The data file is generated once into build/bench/ (timed and reported, never
counted). `python -m train` and the baseline (pd.read_csv of all 28 columns,
then HistGradientBoosting on a few numeric columns and the ordinal-encoded
carrier) each run as their own process, waited for with os.wait4, so wall time
and peak RSS belong to that process alone. Exits 0 unless a run crashes.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score
from sklearn.preprocessing import OrdinalEncoder

from bench import synth

REPO = Path(__file__).resolve().parents[1]
CACHE = REPO / "build" / "bench"
TARGET_SECONDS = 120.0
TARGET_GIB = 3.0
BASELINE_FEATURES = ["CRS_DEP_TIME", "CRS_ARR_TIME", "CRS_ELAPSED_TIME", "DISTANCE"]
_LOG_LINE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) \S+ \S+ (.*)$")
_AUC = re.compile(r"test:(\w+):roc_auc=([0-9.]+)")
# Phases of `python -m train`, each ending at the first later log message that matches.
_PHASES = (
    ("start-up, imports", re.compile(r"^reading ")),
    ("read CSV, label, previous-day rates", re.compile(r"^read \d+ flights")),
    ("split", re.compile(r"^rows: ")),
    ("fit (features, encoders, boosting)", re.compile(r"^model fitted")),
    ("evaluate, baselines, importance, save", re.compile(r" written to ")),
)


@dataclass(frozen=True)
class Run:
    """One measured process: start, wall and CPU seconds, peak RSS, load before it, exit code and output."""

    started: datetime
    seconds: float
    cpu_seconds: float
    peak_gib: float
    load_before: float
    exit_code: int
    output: str

    def auc(self, name: str) -> float | None:
        """The test ROC AUC the process printed for `name`, if any."""
        found = dict(_AUC.findall(self.output))
        return float(found[name]) if name in found else None


def measure(command: list[str], log: Path) -> Run:
    """Run a command from the repository root; wall time and peak RSS of that process (os.wait4)."""
    load = os.getloadavg()[0]
    started, clock = datetime.now(), time.perf_counter()
    with log.open("w") as sink:
        process = subprocess.Popen(command, cwd=REPO, stdout=sink, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - clock
    cpu = usage.ru_utime + usage.ru_stime
    peak_gib = usage.ru_maxrss / 2**20  # ru_maxrss is in KiB on Linux
    return Run(started, seconds, cpu, peak_gib, load, process.returncode, log.read_text())


def cached_data(rows: int, seed: int) -> tuple[Path, float, bool]:
    """The benchmark CSV for this generator version, the seconds its generation took, and whether it was cached.

    Files of other generator versions (same rows and seed) are removed.
    """
    version = hashlib.sha256(Path(synth.__file__).read_bytes()).hexdigest()[:10]
    path = CACHE / f"kaggle-synth-{rows}-seed{seed}-{version}.csv"
    timing = path.with_name(path.name + ".seconds")
    if path.exists() and timing.exists():
        return path, float(timing.read_text()), True
    for stale in CACHE.glob(f"kaggle-synth-{rows}-seed{seed}-*"):
        stale.unlink()
    started = time.perf_counter()
    synth.write_kaggle_csv(path, rows, seed)
    seconds = time.perf_counter() - started
    timing.write_text(f"{seconds:.2f}\n")
    return path, seconds, False


def phases(run: Run) -> list[tuple[str, float]]:
    """Seconds spent in each phase of a training run, from its log timestamps."""
    stamps = []
    for line in run.output.splitlines():
        match = _LOG_LINE.match(line)
        if match:
            stamps.append((datetime.strptime(match[1], "%Y-%m-%d %H:%M:%S,%f"), match[2]))
    result: list[tuple[str, float]] = []
    previous = run.started
    for name, pattern in _PHASES:
        at = next((t for t, message in stamps if t > previous and pattern.search(message)), None)
        if at is None:
            return result
        result.append((name, (at - previous).total_seconds()))
        previous = at
    end = run.started + timedelta(seconds=run.seconds)
    return [*result, ("exit", (end - previous).total_seconds())]


def baseline(path: Path) -> None:
    """The naive pipeline: every column with default dtypes, a few numeric features, default boosting."""
    frame = pd.read_csv(path)
    labels = ((frame["ARR_DELAY"] >= 15) | (frame["CANCELLED"] > 0) | (frame["DIVERTED"] > 0)).astype(int)
    features = frame[BASELINE_FEATURES].copy()
    features["carrier"] = OrdinalEncoder().fit_transform(frame[["OP_CARRIER"]])[:, 0]
    dates = sorted(frame["FL_DATE"].unique())
    is_test = (frame["FL_DATE"] >= dates[len(dates) * 5 // 6]).to_numpy()
    model = HistGradientBoostingClassifier(categorical_features=["carrier"], random_state=0)
    model.fit(features[~is_test], labels[~is_test])
    auc = roc_auc_score(labels[is_test], model.predict_proba(features[is_test])[:, 1])
    print(f"test:baseline:roc_auc={auc:.4f}", flush=True)


def _row(figure: str, value: str, target: str = "", result: str = "") -> str:
    return f"{figure:<44}{value:>10}{target:>10}  {result}".rstrip()


def _verdict(ok: bool) -> str:
    return "pass" if ok else "FAIL"


def _auc(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def report(rows: int, generation: tuple[float, bool], ours: Run, base: Run | None) -> str:
    """The results table, where our wall time goes, and the ratios to the baseline."""
    auc = ours.auc("model")
    seconds, cached = generation
    lines = [
        f"{rows:,} rows; generating the CSV took {seconds:.1f} s{' (cached file)' if cached else ''}; not counted",
        "",
        _row("figure", "value", "target", "result"),
        _row(
            "load + train wall time (s)",
            f"{ours.seconds:.1f}",
            f"<= {TARGET_SECONDS:.0f}",
            _verdict(ours.seconds <= TARGET_SECONDS),
        ),
        _row("peak RSS (GiB)", f"{ours.peak_gib:.2f}", f"<= {TARGET_GIB:.0f}", _verdict(ours.peak_gib <= TARGET_GIB)),
        _row("test ROC AUC", _auc(auc), "> 0.5", _verdict(auc is not None and auc > 0.5)),
        _row("CPU time, user + system (s)", f"{ours.cpu_seconds:.1f}"),
        "",
        "where the wall time goes:",
        *(_row(f"  {name}", f"{seconds:.1f}") for name, seconds in phases(ours)),
    ]
    if base is not None:
        lines += [
            "",
            _row("baseline wall time (s)", f"{base.seconds:.1f}"),
            _row("baseline peak RSS (GiB)", f"{base.peak_gib:.2f}"),
            _row("baseline test ROC AUC", _auc(base.auc("baseline"))),
            _row("baseline CPU time (s)", f"{base.cpu_seconds:.1f}"),
            _row("ours / baseline, wall time", f"{ours.seconds / base.seconds:.2f}"),
            _row("ours / baseline, peak RSS", f"{ours.peak_gib / base.peak_gib:.2f}"),
        ]
    busy = max(run.load_before for run in (ours, base) if run is not None)
    if busy > 0.5:
        lines += ["", f"note: load average {busy:.1f} before a run; other work on this machine inflates wall times"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Generate (or reuse) the data, measure both runs, print the table."""
    parser = argparse.ArgumentParser(prog="python -m bench.train_bench", description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=7_200_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-baseline", action="store_true", help="measure only our training")
    parser.add_argument("--hp", action="append", default=[], metavar="KEY=VALUE", help="passed on to python -m train")
    parser.add_argument("--baseline", type=Path, metavar="CSV", help=argparse.SUPPRESS)  # the baseline's own process
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    if args.baseline is not None:
        baseline(args.baseline)
        return 0
    data, seconds, cached = cached_data(args.rows, args.seed)
    with tempfile.TemporaryDirectory(prefix="delaycast-bench-") as root:
        hyperparameters = [arg for item in args.hp for arg in ("--hp", item)]
        ours = measure(
            [sys.executable, "-m", "train", "--root", root, "--train", str(data), *hyperparameters], CACHE / "train.log"
        )
    base = None
    if not args.skip_baseline:
        base = measure([sys.executable, "-m", "bench.train_bench", "--baseline", str(data)], CACHE / "baseline.log")
    print(report(args.rows, (seconds, cached), ours, base))
    failed = [(name, run) for name, run in (("train", ours), ("baseline", base)) if run and run.exit_code != 0]
    for name, run in failed:
        print(f"\n{name} exited with {run.exit_code}; last output:\n" + "\n".join(run.output.splitlines()[-20:]))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
