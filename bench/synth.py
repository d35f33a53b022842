"""Synthetic US on-time records in the Kaggle "airline delay and cancellation data 2009-2018" CSV layout.

A seeded world is built first: 18 carriers with their 2018 market shares and
hubs, 350 airports (real hub codes and positions for the large ones, generated
codes near them for the long tail), a daily schedule of out-and-back services
with great-circle distances, and a weather field of local noise plus multi-day
regional storms. Each day a share of the services flies. Whether a flight is
cancelled, diverted or arrives 15+ minutes late follows logistic models of the
departure hour, month, weekday, carrier, airports, the service and the weather
at both ends, calibrated to ~1.6% cancelled, ~0.25% diverted and ~19% late.

Rows are formatted with per-column lookup tables of byte strings, not
`DataFrame.to_csv`, and written in chunks: a year of 7.2M rows (890 MB) takes
about 12 s on two cores. The same arguments give the same bytes.
"""

from __future__ import annotations

import argparse
import gzip
import io
import itertools
import os
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

HEADER = (
    "FL_DATE",
    "OP_CARRIER",
    "OP_CARRIER_FL_NUM",
    "ORIGIN",
    "DEST",
    "CRS_DEP_TIME",
    "DEP_TIME",
    "DEP_DELAY",
    "TAXI_OUT",
    "WHEELS_OFF",
    "WHEELS_ON",
    "TAXI_IN",
    "CRS_ARR_TIME",
    "ARR_TIME",
    "ARR_DELAY",
    "CANCELLED",
    "CANCELLATION_CODE",
    "DIVERTED",
    "CRS_ELAPSED_TIME",
    "ACTUAL_ELAPSED_TIME",
    "AIR_TIME",
    "DISTANCE",
    "CARRIER_DELAY",
    "WEATHER_DELAY",
    "NAS_DELAY",
    "SECURITY_DELAY",
    "LATE_AIRCRAFT_DELAY",
    "Unnamed: 27",
)
CAUSE_COLUMNS = HEADER[22:27]
DEFAULT_START = date(2018, 1, 1)
DEFAULT_DAYS = 365
CHUNK_ROWS = 400_000
DAILY_SERVICES = 20_000  # scheduled services in the world; more when rows/day needs it
SERVICE_USE = 0.85  # at most this share of the services flies on one day
AIRPORT_COUNT = 350
LATE_RATE, CANCELLED_RATE, DIVERTED_RATE = 0.19, 0.016, 0.0025
LATE_MINUTES = 15


@dataclass(frozen=True)
class Carrier:
    """A reporting carrier: 2018 share of flights (%), hubs, delay logit effect, typical stage length."""

    code: str
    share: float
    hubs: tuple[str, ...]
    hub_share: float
    effect: float
    stage_miles: float


CARRIERS = (
    Carrier("WN", 18.8, ("MDW", "LAS", "BWI", "DAL", "HOU", "PHX", "DEN", "OAK", "MCO", "ATL"), 0.45, 0.05, 700),
    Carrier("DL", 13.2, ("ATL", "MSP", "DTW", "SLC", "JFK", "LGA", "SEA", "BOS", "LAX"), 0.85, -0.35, 1000),
    Carrier("AA", 12.7, ("DFW", "CLT", "ORD", "PHL", "PHX", "MIA", "LAX", "DCA", "JFK"), 0.85, 0.10, 1000),
    Carrier("OO", 10.8, ("DEN", "ORD", "SFO", "LAX", "SEA", "SLC", "DTW", "MSP", "PHX"), 0.90, 0.00, 500),
    Carrier("UA", 8.6, ("ORD", "DEN", "IAH", "EWR", "SFO", "IAD", "LAX"), 0.90, 0.00, 1100),
    Carrier("YX", 4.4, ("LGA", "ORD", "DCA", "EWR", "IAD", "CLT"), 0.90, -0.15, 500),
    Carrier("MQ", 4.3, ("ORD", "DFW", "LGA", "DCA", "MIA"), 0.90, -0.05, 500),
    Carrier("B6", 4.2, ("JFK", "BOS", "FLL", "MCO"), 0.80, 0.40, 1000),
    Carrier("OH", 3.9, ("CLT", "PHL", "DCA"), 0.95, 0.05, 450),
    Carrier("9E", 3.4, ("DTW", "MSP", "ATL", "JFK", "LGA"), 0.90, -0.10, 500),
    Carrier("AS", 3.4, ("SEA", "PDX", "SFO", "LAX", "ANC"), 0.85, -0.20, 900),
    Carrier("YV", 3.1, ("PHX", "IAD", "DFW", "ORD", "IAH", "DEN"), 0.90, 0.15, 500),
    Carrier("EV", 2.8, ("IAH", "EWR", "ATL", "ORD"), 0.90, 0.30, 450),
    Carrier("NK", 2.4, ("FLL", "LAS", "DTW", "MCO"), 0.70, 0.10, 1000),
    Carrier("F9", 1.7, ("DEN", "MCO", "PHL", "LAS"), 0.70, 0.35, 1000),
    Carrier("G4", 1.4, ("LAS", "MCO", "PHX", "TPA"), 0.70, 0.20, 900),
    Carrier("HA", 1.2, ("HNL", "OGG"), 0.95, -0.60, 1200),
    Carrier("VX", 0.2, ("SFO", "LAX"), 0.95, 0.30, 1500),
)
CARRIER_EFFECT = np.array([c.effect for c in CARRIERS])

# code, latitude, longitude, thousands of departures a year (roughly 2018)
_REAL_AIRPORTS = """
ATL 33.64 -84.43 390  DFW 32.90 -97.04 280  ORD 41.98 -87.90 270  DEN 39.86 -104.67 260  CLT 35.21 -80.94 230
LAX 33.94 -118.41 215  SFO 37.62 -122.38 180  PHX 33.43 -112.01 170  SEA 47.45 -122.31 170  LGA 40.78 -73.87 170
IAH 29.99 -95.34 165  LAS 36.08 -115.15 165  MSP 44.88 -93.22 160  DTW 42.21 -83.35 155  BOS 42.36 -71.01 150
MCO 28.43 -81.31 145  EWR 40.69 -74.17 140  DCA 38.85 -77.04 140  JFK 40.64 -73.78 125  SLC 40.79 -111.98 125
PHL 39.87 -75.24 120  BWI 39.18 -76.67 100  SAN 32.73 -117.19 92  MDW 41.79 -87.75 90  FLL 26.07 -80.15 82
TPA 27.98 -82.53 80  IAD 38.95 -77.46 75  BNA 36.12 -86.68 75  DAL 32.85 -96.85 70  AUS 30.19 -97.67 70
PDX 45.59 -122.60 70  MIA 25.79 -80.29 70  STL 38.75 -90.37 65  HOU 29.65 -95.28 60  RDU 35.88 -78.79 60
MSY 29.99 -90.26 55  MCI 39.30 -94.71 55  SJC 37.36 -121.93 50  OAK 37.72 -122.22 50  SMF 38.70 -121.59 50
SAT 29.53 -98.47 45  SNA 33.68 -117.87 45  CLE 41.41 -81.85 45  IND 39.72 -86.29 40  PIT 40.49 -80.23 40
CMH 40.00 -82.89 40  HNL 21.32 -157.92 40  CVG 39.05 -84.66 35  MKE 42.95 -87.90 30  JAX 30.49 -81.69 30
RSW 26.54 -81.76 25  ABQ 35.04 -106.61 25  BDL 41.94 -72.68 25  PBI 26.68 -80.10 25  OMA 41.30 -95.89 25
BUR 34.20 -118.36 25  ONT 34.06 -117.60 20  OGG 20.90 -156.43 20  ANC 61.17 -150.00 20  BOI 43.56 -116.22 20
BUF 42.94 -78.73 20  RIC 37.51 -77.32 20  TUS 32.12 -110.94 20  SDF 38.17 -85.74 20  OKC 35.39 -97.60 20
MEM 35.04 -89.98 18  CHS 32.90 -80.04 18  ELP 31.81 -106.38 15  ORF 36.89 -76.20 15  SAV 32.13 -81.20 12
DSM 41.53 -93.66 12  GRR 42.88 -85.52 12  ALB 42.75 -73.80 12  TUL 36.20 -95.89 12  KOA 19.74 -156.05 10
LIH 21.98 -159.34 10  LIT 34.73 -92.22 10  BHM 33.56 -86.75 10
"""
# Congested or fair-weather airports on top of a random airport effect (delay logit).
_AIRPORT_EFFECT = {"EWR": 0.45, "LGA": 0.40, "JFK": 0.30, "SFO": 0.30, "ORD": 0.25, "BOS": 0.20, "DFW": 0.10}
_AIRPORT_EFFECT |= {"HNL": -0.40, "OGG": -0.30, "KOA": -0.30, "LIH": -0.30, "SLC": -0.20, "SEA": -0.10}

# Relative traffic and delay logit effects by month (Jan..Dec) and weekday (Mon..Sun).
MONTH_TRAFFIC = np.array([0.93, 0.87, 1.00, 0.98, 1.01, 1.04, 1.07, 1.06, 0.95, 1.00, 0.96, 0.98])
MONTH_EFFECT = np.array([0.00, 0.05, -0.05, -0.05, 0.10, 0.30, 0.30, 0.25, -0.25, -0.20, -0.25, 0.20])
STORMS_PER_DAY = np.array([2.5, 2.5, 2.0, 1.5, 2.0, 3.0, 3.5, 3.0, 1.5, 1.0, 1.5, 2.5])
DOW_TRAFFIC = np.array([1.03, 0.98, 0.99, 1.03, 1.03, 0.83, 0.97])
DOW_EFFECT = np.array([0.00, -0.10, -0.05, 0.12, 0.12, -0.15, 0.05])
# Scheduled departures by local hour: morning bank, steady day, evening bank, few red-eyes.
HOUR_TRAFFIC = np.array(
    [3, 1, 0.3, 0.2, 0.5, 20, 65, 68, 65, 60, 60, 60, 59, 58, 55, 58, 56, 62, 56, 53, 40, 28, 13, 8]
)
HOUR_EFFECT = 0.09 * (np.clip(np.arange(24), 5, 21) - 13)
# How often each cause (carrier, weather, NAS, security, late aircraft) is part of a late arrival.
CAUSE_ODDS = np.array([0.50, 0.03, 0.40, 0.004, 0.55])


@dataclass(frozen=True)
class Airports:
    """Codes, traffic weights, UTC offsets (minutes), delay effects and distances."""

    codes: np.ndarray
    size: np.ndarray
    utc_offset: np.ndarray
    effect: np.ndarray
    miles: np.ndarray  # pairwise great-circle distances

    @property
    def busyness(self) -> np.ndarray:
        """0..1, the square root of traffic relative to the busiest airport (taxi times)."""
        result: np.ndarray = np.sqrt(self.size / self.size.max())
        return result


@dataclass(frozen=True)
class Schedule:
    """Scheduled services, sorted by carrier and flight number; one row flies at most once a day."""

    carrier: np.ndarray
    number: np.ndarray
    origin: np.ndarray
    dest: np.ndarray
    dep_minute: np.ndarray  # local
    arr_minute: np.ndarray  # local, may exceed a day
    crs_elapsed: np.ndarray
    min_air: np.ndarray
    effect: np.ndarray
    frequency: np.ndarray  # relative chance of flying on a given day


@dataclass(frozen=True)
class World:
    """Everything fixed by the seed before any flight is drawn."""

    airports: Airports
    schedule: Schedule
    dates: np.ndarray  # datetime64[D]
    day_counts: np.ndarray
    day_effect: np.ndarray
    weather: np.ndarray  # severity per (airport, day)
    intercepts: tuple[float, float, float] = (0.0, 0.0, 0.0)  # late, cancelled, diverted


@dataclass(frozen=True)
class Exposure:
    """Per-flight drivers: logits without intercepts and the weather at both ends."""

    late: np.ndarray
    cancelled: np.ndarray
    diverted: np.ndarray
    weather_origin: np.ndarray
    weather_dest: np.ndarray


@dataclass(frozen=True)
class Outcome:
    """What happened to each flight; all durations in whole minutes."""

    cancelled: np.ndarray
    diverted: np.ndarray
    late: np.ndarray  # arrived 15+ minutes late (when it arrived)
    storm: np.ndarray  # weather severity at both ends, >= 0
    weather_origin: np.ndarray
    arr_delay: np.ndarray
    dep_delay: np.ndarray
    taxi_out: np.ndarray
    taxi_in: np.ndarray
    air: np.ndarray


def generate(rows: int, seed: int = 0, start: date = DEFAULT_START, days: int = DEFAULT_DAYS) -> Iterator[pd.DataFrame]:
    """Frames of Kaggle-layout records, in date order, `rows` in all, about CHUNK_ROWS each.

    Codes and dates are categoricals, flight numbers and scheduled times int64, every other
    column float64 with NaN for a blank, as read_csv gives them.
    """
    if rows < 1 or days < 1:
        raise ValueError("rows and days must be >= 1")
    world = build_world(rows, seed, start, days)
    for index, (first, stop) in enumerate(_day_chunks(world.day_counts)):
        rng = np.random.default_rng([seed, 1, index])
        flight_days, services = _services_flown(rng, world, first, stop)
        yield _fly(rng, world, flight_days, services)


def write_kaggle_csv(
    path: Path, rows: int, seed: int = 0, start: date = DEFAULT_START, days: int = DEFAULT_DAYS
) -> Path:
    """Write `rows` synthetic records as a Kaggle-layout CSV (gzip when the name ends in .gz); returns path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".part")
    try:
        with partial.open("wb") as raw:
            sink: io.BufferedIOBase = (
                gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=6, mtime=0)
                if path.name.endswith(".gz")
                else raw
            )
            sink.write((",".join(HEADER) + "\n").encode())
            for frame in generate(rows, seed, start, days):
                sink.write(csv_bytes(frame))
            sink.close()
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    os.replace(partial, path)
    return path


def csv_bytes(frame: pd.DataFrame) -> bytes:
    """A frame from `generate` as Kaggle CSV lines (no header); the last column is always empty."""
    fields = [_field(frame[name]) for name in HEADER[:-1]]
    lines = np.zeros((len(frame), sum(table.shape[1] for _, table in fields) + 1), dtype=np.uint8)
    at = 0
    for codes, table in fields:
        lines[:, at : at + table.shape[1]] = table[codes]
        at += table.shape[1]
    lines[:, -1] = ord("\n")
    flat = lines.reshape(-1)
    return bytes(flat[flat != 0])


def _field(column: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Row codes into a table of NUL-padded "value," byte strings; the last entry is the blank."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        labels = [str(c) for c in column.cat.categories]
        codes = column.cat.codes.to_numpy()
        return np.where(codes < 0, len(labels), codes), _table([*labels, ""])
    values = column.to_numpy(dtype="float64")
    present = ~np.isnan(values)
    whole = np.where(present, values, 0).astype(np.int64)
    low, high = (int(whole[present].min()), int(whole[present].max())) if present.any() else (0, 0)
    suffix = "" if pd.api.types.is_integer_dtype(column.dtype) else ".0"
    labels = [f"{value}{suffix}" for value in range(low, high + 1)]
    return np.where(present, whole - low, len(labels)), _table([*labels, ""])


def _table(labels: list[str]) -> np.ndarray:
    encoded = np.array([f"{label},".encode() for label in labels])
    return encoded.view(np.uint8).reshape(len(labels), encoded.itemsize)


def build_world(rows: int, seed: int, start: date, days: int) -> World:
    """Airports, schedule, daily flight counts, weather and calibrated intercepts for a seed."""
    rng = np.random.default_rng([seed, 0])
    dates = np.arange(days) + np.datetime64(start, "D")
    month, weekday = _month_and_weekday(dates)
    airports = _airports(rng)
    traffic = MONTH_TRAFFIC[month] * DOW_TRAFFIC[weekday]
    day_counts = rng.multinomial(rows, traffic / traffic.sum())
    services = max(DAILY_SERVICES, int(np.ceil(day_counts.max() / SERVICE_USE)))
    world = World(
        airports=airports,
        schedule=_schedule(rng, airports, services),
        dates=dates,
        day_counts=day_counts,
        day_effect=MONTH_EFFECT[month] + DOW_EFFECT[weekday],
        weather=_weather(rng, airports, month),
    )
    return replace(world, intercepts=_calibrate(rng, world))


def _month_and_weekday(dates: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    month = dates.astype("datetime64[M]").astype(np.int64) % 12
    weekday = (dates.astype(np.int64) + 3) % 7  # 1970-01-01 was a Thursday; Monday = 0
    return month, weekday


def great_circle_miles(lat1: np.ndarray, lon1: np.ndarray, lat2: np.ndarray, lon2: np.ndarray) -> np.ndarray:
    """Haversine distance in statute miles (broadcasting)."""
    p1, p2, dlon = np.radians(lat1), np.radians(lat2), np.radians(lon2 - lon1)
    h = np.sin((p2 - p1) / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dlon / 2) ** 2
    miles: np.ndarray = 2 * 3958.8 * np.arcsin(np.sqrt(h))
    return miles


def _airports(rng: np.random.Generator) -> Airports:
    fields = _REAL_AIRPORTS.split()
    real = np.array(fields[0::4])
    lat, lon, size = (np.array(fields[k::4], dtype=np.float64) for k in (1, 2, 3))
    tail = AIRPORT_COUNT - len(real)
    taken = set(real.tolist())
    candidates = [c for c in map("".join, itertools.product("ABCDEFGHIJKLMNOPQRSTUVWXYZ", repeat=3)) if c not in taken]
    anchors = np.flatnonzero((lat > 24) & (lat < 50))  # near a mainland airport
    near = rng.choice(anchors, tail)
    lat = np.concatenate([lat, np.clip(lat[near] + rng.normal(0, 1.5, tail), 25.5, 48.5)])
    lon = np.concatenate([lon, np.clip(lon[near] + rng.normal(0, 2.0, tail), -123.5, -68.5)])
    codes = np.concatenate([real, rng.choice(np.array(candidates), tail, replace=False)])
    size = np.concatenate([size, size.min() * (len(real) / np.arange(len(real) + 1, AIRPORT_COUNT + 1)) ** 1.6])
    effect = rng.normal(0, 0.2, AIRPORT_COUNT) + np.array([_AIRPORT_EFFECT.get(c, 0.0) for c in codes])
    miles = great_circle_miles(lat[:, None], lon[:, None], lat[None, :], lon[None, :])
    return Airports(codes, size, _utc_offset(lat, lon), effect, np.rint(miles))


def _utc_offset(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """Standard-time UTC offset in minutes from position (Hawaii, Alaska, then the four mainland zones)."""
    hours = np.select(
        [lon < -150, lat > 52, lon < -115, lon < -102, lon < -86.5],
        [-10, -9, -8, -7, -6],
        default=-5,
    )
    offset: np.ndarray = hours * 60
    return offset


def _schedule(rng: np.random.Generator, airports: Airports, services: int) -> Schedule:
    shares = np.array([c.share for c in CARRIERS])
    pairs = (services + 1) // 2
    carrier = np.sort(rng.choice(len(CARRIERS), pairs, p=shares / shares.sum()))
    first, second = _routes(rng, airports, carrier)
    carrier = np.concatenate([carrier, carrier])[:services]
    origin = np.concatenate([first, second])[:services]
    dest = np.concatenate([second, first])[:services]
    number = _flight_numbers(rng, carrier)
    dep_minute = rng.choice(24, services, p=HOUR_TRAFFIC / HOUR_TRAFFIC.sum()) * 60 + rng.integers(0, 12, services) * 5
    air = airports.miles[origin, dest] / 8.0 + 12
    taxi = 13 + 7 * airports.busyness[origin] + 7 + 3 * airports.busyness[dest]  # mean taxi-out + taxi-in
    crs_elapsed = np.rint(air + taxi + 5 + rng.normal(0, 3, services))
    zone_shift = airports.utc_offset[dest] - airports.utc_offset[origin]
    order = np.lexsort((number, carrier))
    return Schedule(
        carrier=carrier[order],
        number=number[order],
        origin=origin[order],
        dest=dest[order],
        dep_minute=dep_minute[order],
        arr_minute=(dep_minute + crs_elapsed + zone_shift)[order],
        crs_elapsed=crs_elapsed[order],
        min_air=np.ceil(0.8 * air)[order],
        effect=rng.normal(0, 0.2, services)[order],
        frequency=rng.uniform(0.3, 1.0, services)[order],
    )


def _routes(rng: np.random.Generator, airports: Airports, carrier: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both ends of each out-and-back pair: a hub (or any airport by size) and a gravity-model partner."""
    first = np.empty(len(carrier), dtype=np.int64)
    second = np.empty(len(carrier), dtype=np.int64)
    index = {code: i for i, code in enumerate(airports.codes.tolist())}
    by_size = airports.size / airports.size.sum()
    for c, spec in enumerate(CARRIERS):
        rows = np.flatnonzero(carrier == c)
        hubs = np.array([index[h] for h in spec.hubs])
        at_hub = rng.random(len(rows)) < spec.hub_share
        hub = rng.choice(hubs, len(rows), p=airports.size[hubs] / airports.size[hubs].sum())
        ends = np.where(at_hub, hub, rng.choice(len(by_size), len(rows), p=by_size))
        partner = _gravity_partner(rng, airports, spec.stage_miles, ends)
        swap = rng.random(len(rows)) < 0.5
        first[rows] = np.where(swap, partner, ends)
        second[rows] = np.where(swap, ends, partner)
    return first, second


def _gravity_partner(rng: np.random.Generator, airports: Airports, stage_miles: float, ends: np.ndarray) -> np.ndarray:
    """For each airport in `ends`, a partner drawn by size**0.9 * exp(-miles / stage_miles), 60+ miles away."""
    weight = airports.size[None, :] ** 0.9 * np.exp(-airports.miles / stage_miles) * (airports.miles >= 60)
    cumulative = np.cumsum(weight / weight.sum(axis=1, keepdims=True), axis=1)
    draws = rng.random(len(ends))
    partner: np.ndarray = np.minimum((cumulative[ends] < draws[:, None]).sum(axis=1), len(airports.codes) - 1)
    return partner


def _flight_numbers(rng: np.random.Generator, carrier: np.ndarray) -> np.ndarray:
    number = np.empty(len(carrier), dtype=np.int64)
    for c in np.unique(carrier):
        rows = np.flatnonzero(carrier == c)
        number[rows] = rng.choice(np.arange(1, 10000), len(rows), replace=len(rows) > 9999)
    return number


def _weather(rng: np.random.Generator, airports: Airports, month: np.ndarray) -> np.ndarray:
    """Severity per (airport, day): persistent local noise plus regional storms lasting 1-3 days."""
    count, days = len(airports.codes), len(month)
    noise = rng.standard_normal((days, count))
    local = np.empty((days, count))
    local[0] = noise[0]
    for day in range(1, days):
        local[day] = 0.6 * local[day - 1] + 0.8 * noise[day]
    storms_today = rng.poisson(STORMS_PER_DAY[month])
    storm_day = np.repeat(np.arange(days), storms_today)
    centre = rng.integers(0, count, len(storm_day))
    radius = rng.uniform(120, 450, len(storm_day))
    reach = rng.gamma(2.0, 0.6, len(storm_day))[:, None] * np.exp(-((airports.miles[centre] / radius[:, None]) ** 2))
    duration = np.minimum(rng.geometric(0.5, len(storm_day)), 3)
    storms = np.zeros((days, count))
    for lag in range(3):
        alive = (duration > lag) & (storm_day + lag < days)
        np.add.at(storms, storm_day[alive] + lag, reach[alive] * 0.7**lag)
    severity: np.ndarray = np.ascontiguousarray((storms + 0.3 * local).T)
    return severity


def _exposure(world: World, days: np.ndarray, services: np.ndarray) -> Exposure:
    schedule, airports = world.schedule, world.airports
    origin, dest = schedule.origin[services], schedule.dest[services]
    weather_origin, weather_dest = world.weather[origin, days], world.weather[dest, days]
    carrier = CARRIER_EFFECT[schedule.carrier[services]]
    late = (
        HOUR_EFFECT[schedule.dep_minute[services] // 60]
        + world.day_effect[days]
        + carrier
        + airports.effect[origin]
        + 0.6 * airports.effect[dest]
        + schedule.effect[services]
        + weather_origin
        + 0.6 * weather_dest
    )
    cancelled = 1.5 * (weather_origin + 0.7 * weather_dest) + 0.5 * carrier
    return Exposure(late, cancelled, 0.8 * weather_dest, weather_origin, weather_dest)


def _calibrate(rng: np.random.Generator, world: World, sample: int = 100_000) -> tuple[float, float, float]:
    """Intercepts that give the target late, cancelled and diverted rates over a sample of flights."""
    days = rng.choice(len(world.dates), sample, p=world.day_counts / world.day_counts.sum())
    exposure = _exposure(world, days, rng.integers(0, len(world.schedule.carrier), sample))
    cancelled = _intercept(exposure.cancelled, CANCELLED_RATE, np.ones(sample))
    diverted = _intercept(exposure.diverted, DIVERTED_RATE, 1 - _sigmoid(cancelled + exposure.cancelled))
    operated = (1 - _sigmoid(cancelled + exposure.cancelled)) * (1 - _sigmoid(diverted + exposure.diverted))
    return _intercept(exposure.late, LATE_RATE, operated), cancelled, diverted


def _intercept(logits: np.ndarray, target: float, weights: np.ndarray) -> float:
    low, high = -20.0, 10.0
    for _ in range(40):
        middle = (low + high) / 2
        if np.average(_sigmoid(middle + logits), weights=weights) < target:
            low = middle
        else:
            high = middle
    return (low + high) / 2


def _sigmoid(x: np.ndarray) -> np.ndarray:
    result: np.ndarray = 1 / (1 + np.exp(-x))
    return result


def _day_chunks(day_counts: np.ndarray) -> Iterator[tuple[int, int]]:
    """Consecutive day ranges of about CHUNK_ROWS flights each."""
    first, rows = 0, 0
    for day, count in enumerate(day_counts.tolist()):
        rows += count
        if rows >= CHUNK_ROWS:
            yield first, day + 1
            first, rows = day + 1, 0
    if rows:
        yield first, len(day_counts)


def _services_flown(rng: np.random.Generator, world: World, first: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
    """(day, service) of every flight on days first..stop-1: a weighted draw without replacement per day."""
    exponent = 1 / world.schedule.frequency
    total = len(exponent)
    days, services = [], []
    for day in range(first, stop):
        count = int(world.day_counts[day])
        if count == 0:
            continue
        keys = rng.random(total) ** exponent  # Efraimidis-Spirakis: the largest keys win
        services.append(np.sort(np.argpartition(keys, total - count)[total - count :]))
        days.append(np.full(count, day))
    return np.concatenate(days), np.concatenate(services)


def _fly(rng: np.random.Generator, world: World, days: np.ndarray, services: np.ndarray) -> pd.DataFrame:
    """Draw each flight's outcome and lay it out as Kaggle columns."""
    exposure = _exposure(world, days, services)
    return _kaggle_frame(rng, world, days, services, _outcome(rng, world, services, exposure))


def _outcome(rng: np.random.Generator, world: World, services: np.ndarray, exposure: Exposure) -> Outcome:
    """Disruptions, then whole minutes that add up: ARR_DELAY = DEP_DELAY + actual - scheduled elapsed time."""
    schedule, busyness, n = world.schedule, world.airports.busyness, len(services)
    late_b, cancel_b, divert_b = world.intercepts
    cancelled = rng.random(n) < _sigmoid(cancel_b + exposure.cancelled)
    diverted = ~cancelled & (rng.random(n) < _sigmoid(divert_b + exposure.diverted))
    late = rng.random(n) < _sigmoid(late_b + exposure.late)
    storm = np.maximum(exposure.weather_origin + exposure.weather_dest, 0)
    arr_delay = np.where(
        late,
        np.rint(LATE_MINUTES + np.minimum(rng.lognormal(np.log(22) + 0.25 * storm, 1.0), 1500)),
        np.rint(np.maximum(14 - rng.gamma(3.0, 7.5, n), -45)),
    )
    taxi_out = np.rint(5 + rng.gamma(2.0, 4.0, n) + 7 * busyness[schedule.origin[services]] + 3 * storm)
    taxi_in = np.rint(2 + rng.gamma(2.0, 2.5, n) + 3 * busyness[schedule.dest[services]])
    dep_delay = np.maximum(arr_delay + np.rint(rng.normal(5, 6, n)), -20)
    air = schedule.crs_elapsed[services] + arr_delay - dep_delay - taxi_out - taxi_in
    too_fast = np.maximum(schedule.min_air[services] - air, 0)
    return Outcome(
        cancelled=cancelled,
        diverted=diverted,
        late=late,
        storm=storm,
        weather_origin=exposure.weather_origin,
        arr_delay=arr_delay,
        dep_delay=dep_delay - too_fast,
        taxi_out=taxi_out,
        taxi_in=taxi_in,
        air=air + too_fast,
    )


def _kaggle_frame(
    rng: np.random.Generator, world: World, days: np.ndarray, services: np.ndarray, outcome: Outcome
) -> pd.DataFrame:
    """The Kaggle columns; departure fields blank when cancelled, arrival fields also when diverted."""
    schedule, airports, o = world.schedule, world.airports, outcome
    origin, dest, arrival = schedule.origin[services], schedule.dest[services], schedule.arr_minute[services]
    departed = schedule.dep_minute[services] + o.dep_delay
    gone, lost = o.cancelled, o.cancelled | o.diverted
    frame = {
        "FL_DATE": _categorical(days, np.datetime_as_string(world.dates)),
        "OP_CARRIER": _categorical(schedule.carrier[services], [c.code for c in CARRIERS]),
        "OP_CARRIER_FL_NUM": schedule.number[services],
        "ORIGIN": _categorical(origin, airports.codes),
        "DEST": _categorical(dest, airports.codes),
        "CRS_DEP_TIME": _hhmm(schedule.dep_minute[services], midnight=0),
        "DEP_TIME": _blank(_hhmm(departed), gone),
        "DEP_DELAY": _blank(o.dep_delay, gone),
        "TAXI_OUT": _blank(o.taxi_out, gone),
        "WHEELS_OFF": _blank(_hhmm(departed + o.taxi_out), gone),
        "WHEELS_ON": _blank(_hhmm(arrival + o.arr_delay - o.taxi_in), lost),
        "TAXI_IN": _blank(o.taxi_in, lost),
        "CRS_ARR_TIME": _hhmm(arrival, midnight=0),
        "ARR_TIME": _blank(_hhmm(arrival + o.arr_delay), lost),
        "ARR_DELAY": _blank(o.arr_delay, lost),
        "CANCELLED": o.cancelled.astype(np.float64),
        "CANCELLATION_CODE": _cancellation_codes(rng, o.cancelled, o.storm),
        "DIVERTED": o.diverted.astype(np.float64),
        "CRS_ELAPSED_TIME": schedule.crs_elapsed[services],
        "ACTUAL_ELAPSED_TIME": _blank(o.taxi_out + o.air + o.taxi_in, lost),
        "AIR_TIME": _blank(o.air, lost),
        "DISTANCE": airports.miles[origin, dest],
    }
    frame |= _causes(rng, np.where(o.late & ~lost, o.arr_delay, np.nan), o.weather_origin)
    frame["Unnamed: 27"] = np.full(len(services), np.nan)
    return pd.DataFrame(frame, columns=list(HEADER))


def _hhmm(minutes: np.ndarray, midnight: int = 2400) -> np.ndarray:
    """Local clock time HHMM of a minute count (any day); midnight is 2400 for actual times, 0 when scheduled."""
    of_day = np.mod(minutes, 1440).astype(np.int64)
    clock = of_day // 60 * 100 + of_day % 60
    return np.where(clock == 0, midnight, clock)


def _categorical(codes: np.ndarray, categories: Sequence[str] | np.ndarray) -> pd.Categorical:
    """Codes into `categories` (-1: missing) without touching strings per row."""
    return pd.Categorical.from_codes(codes.astype(np.int64), categories=pd.Index(categories))


def _blank(values: np.ndarray, missing: np.ndarray) -> np.ndarray:
    return np.where(missing, np.nan, values).astype(np.float64)


def _cancellation_codes(rng: np.random.Generator, cancelled: np.ndarray, storm: np.ndarray) -> pd.Categorical:
    """A carrier, B weather, C national air system, D security; B more likely the worse the weather."""
    codes = rng.choice(np.array([0, 2, 3]), len(cancelled), p=[0.55, 0.44, 0.01])
    codes = np.where(rng.random(len(cancelled)) < np.clip(storm / 3, 0, 0.6), 1, codes)
    return _categorical(np.where(cancelled, codes, -1), ["A", "B", "C", "D"])


def _causes(rng: np.random.Generator, late_minutes: np.ndarray, weather: np.ndarray) -> dict[str, np.ndarray]:
    """Split each late arrival's minutes over the five causes (whole minutes summing to the delay)."""
    late = np.flatnonzero(~np.isnan(late_minutes))
    active = rng.random((len(late), len(CAUSE_COLUMNS))) < CAUSE_ODDS
    active[:, 1] |= weather[late] > 2.0
    active[:, 0] |= ~active.any(axis=1)
    shares = rng.gamma(1.0, 1.0, active.shape) * active
    minutes = late_minutes[late, None]
    split = np.floor(shares / shares.sum(axis=1, keepdims=True) * minutes)
    split[np.arange(len(late)), shares.argmax(axis=1)] += minutes[:, 0] - split.sum(axis=1)
    columns = np.full((len(late_minutes), len(CAUSE_COLUMNS)), np.nan)
    columns[late] = split
    return {name: columns[:, k] for k, name in enumerate(CAUSE_COLUMNS)}


def main(argv: list[str] | None = None) -> int:
    """`python -m bench.synth --rows N --out PATH [--seed S]`."""
    parser = argparse.ArgumentParser(prog="python -m bench.synth", description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, required=True, help="number of flights")
    parser.add_argument("--out", type=Path, required=True, help="CSV path; gzip when it ends in .gz")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--start", type=date.fromisoformat, default=DEFAULT_START, help="first date, YYYY-MM-DD")
    parser.add_argument("--days", type=int, default=DEFAULT_DAYS)
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    started = time.perf_counter()
    write_kaggle_csv(args.out, args.rows, args.seed, args.start, args.days)
    print(f"wrote {args.rows} rows to {args.out} in {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
