"""The flight store's items (DynamoDB, one table): keys and the encoding of every item, one place for the
writer (`deploy.ingest`) and the reader (the Lambda). Pure Python; items are in DynamoDB's typed JSON, as the
low-level client sends and returns them.

The table's key is `pk` (partition, S) + `sk` (sort, S). Three kinds of item:
- schedule, one per carrier + flight number + month: pk `F#UA1545`, sk `2013-11`; `legs` maps the day of the
  month (`05`) to that day's legs (origin, dest, scheduled departure and arrival HHMM, distance). One read gives
  every leg of a flight on a date, and a year of DOT data (7.2M flights) makes about 300k items.
- departures, one per airport + local date: pk `A#EWR`, sk `2013-11-05`; `departures` maps each departure
  (`UA1545@0515`) to its scheduled minute after midnight and, once it left, its actual minute (after the same
  midnight: past 1440 when it left after the next midnight), packed as one JSON string. The context of a
  flight reads two of them (its origin on its date and the day before) in one batched read. They carry the
  table's TTL attribute.
- coverage, one per month of schedule loaded: pk `META`, sk `month#2013-11`: the first and last date of that
  month's schedule, for the answer to a flight or date the schedule does not hold (a Query of pk `META`).
- airport, one per airport: pk `P#EWR`, sk `airport`: its IANA time zone, where known, to read an instant
  with a UTC offset (or now) as the origin's local time.

Every item is written whole (BatchWriteItem): the unit of a schedule item is a flight's month and that of a
departures item an airport's day, so loading a file twice changes nothing, and a file replaces the items of the
months and days it holds.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from delaycast.context import Departure, local_minute

Item = dict[str, Any]  # one item in DynamoDB's typed JSON: {"pk": {"S": "..."}, ...}
Key = dict[str, dict[str, str]]
# One JSON string, {"UA1545@0515": [315, 322], ...}: a typed map of a busy airport's day is a thousand values
# that DynamoDB's wire format and botocore parse one by one (moto took 106 ms to serve one, the Lambda most
# of its CPU to read it).
DEPARTURES_ATTRIBUTE = "departures"
TTL_ATTRIBUTE = "expires_at"  # epoch seconds; DynamoDB deletes departures items after it
COVERAGE_PARTITION = "META"


@dataclass(frozen=True)
class Leg:
    """One scheduled leg of a flight on a date."""

    origin: str
    dest: str
    crs_dep_time: int  # HHMM, local at the origin
    crs_arr_time: int | None  # HHMM, local at the destination
    distance: float | None  # miles


def flight_key(carrier: str, number: int) -> str:
    """`UA1545`: how the store names a flight."""
    return f"{carrier}{number}"


def departure_name(carrier: str, number: int, crs_dep_time: int) -> str:
    """`UA1545@0515`: a departure in an airport's departures item (a flight number may leave twice a day)."""
    return f"{flight_key(carrier, number)}@{crs_dep_time:04d}"


def schedule_key(carrier: str, number: int, day: dt.date) -> Key:
    """The key of the schedule item that holds this flight's legs on `day`."""
    return {"pk": {"S": f"F#{flight_key(carrier, number)}"}, "sk": {"S": f"{day:%Y-%m}"}}


def departures_key(airport: str, day: dt.date) -> Key:
    """The key of the departures item of an airport on a local date."""
    return {"pk": {"S": f"A#{airport}"}, "sk": {"S": day.isoformat()}}


def schedule_item(carrier: str, number: int, month: dt.date, legs_by_day: Mapping[int, Iterable[Leg]]) -> Item:
    """The schedule item of a flight for the month of `month`: its legs by day of the month."""
    days = {f"{day:02d}": {"L": [{"M": _leg_attributes(leg)} for leg in legs]} for day, legs in legs_by_day.items()}
    return {**schedule_key(carrier, number, month), "legs": {"M": days}}


def legs_on(item: Item | None, day: dt.date) -> list[Leg]:
    """The legs a schedule item holds for `day` (none for a missing item), by scheduled departure."""
    if item is None:
        return []
    entries = item.get("legs", {}).get("M", {}).get(f"{day.day:02d}", {}).get("L", [])
    return sorted((_leg(entry["M"]) for entry in entries), key=lambda leg: leg.crs_dep_time)


def departures_item(
    airport: str, day: dt.date, departures: Mapping[str, tuple[int, int | None]], expires_at: int | None
) -> Item:
    """The departures item of an airport on a local date: each departure's scheduled and actual minute after
    that date's midnight (actual None: not departed yet, or cancelled), packed in one string attribute."""
    packed = {
        name: [scheduled] if actual is None else [scheduled, actual] for name, (scheduled, actual) in departures.items()
    }
    item: Item = {
        **departures_key(airport, day),
        DEPARTURES_ATTRIBUTE: {"S": json.dumps(packed, separators=(",", ":"))},
    }
    if expires_at is not None:
        item[TTL_ATTRIBUTE] = {"N": str(expires_at)}
    return item


def departure_minutes(item: Item | None) -> dict[str, tuple[int, int | None]]:
    """A departures item's entries: name -> (scheduled, actual or None), minutes after its date's midnight."""
    if item is None or DEPARTURES_ATTRIBUTE not in item:
        return {}
    packed: dict[str, list[int]] = json.loads(item[DEPARTURES_ATTRIBUTE]["S"])
    return {name: (minutes[0], minutes[1] if len(minutes) > 1 else None) for name, minutes in packed.items()}


def departures_of(item: Item | None, day: dt.date) -> list[Departure]:
    """A departures item as Departures on the local clock of `delaycast.context` (none for a missing item)."""
    midnight = local_minute(day)
    return [
        Departure(midnight + scheduled, None if actual is None else midnight + actual)
        for scheduled, actual in departure_minutes(item).values()
    ]


def coverage_item(first: dt.date, last: dt.date) -> Item:
    """The coverage item of one month of schedule: its first and last date (both in that month)."""
    return {
        "pk": {"S": COVERAGE_PARTITION},
        "sk": {"S": f"month#{first:%Y-%m}"},
        "first": {"S": first.isoformat()},
        "last": {"S": last.isoformat()},
    }


def coverage_of(items: Iterable[Item]) -> tuple[dt.date, dt.date] | None:
    """The first and last date of the schedule from its coverage items, None before any schedule was loaded."""
    spans = [(dt.date.fromisoformat(i["first"]["S"]), dt.date.fromisoformat(i["last"]["S"])) for i in items]
    if not spans:
        return None
    return min(first for first, _ in spans), max(last for _, last in spans)


def airport_key(airport: str) -> Key:
    """The key of an airport's item."""
    return {"pk": {"S": f"P#{airport}"}, "sk": {"S": "airport"}}


def airport_item(airport: str, time_zone: str) -> Item:
    """An airport's item: its IANA time zone (`America/New_York`)."""
    return {**airport_key(airport), "time_zone": {"S": time_zone}}


def time_zone_of(item: Item | None) -> str | None:
    """The IANA time zone an airport's item holds, None when unknown."""
    return None if item is None else item.get("time_zone", {}).get("S")


def _leg_attributes(leg: Leg) -> dict[str, dict[str, str]]:
    attributes = {"origin": {"S": leg.origin}, "dest": {"S": leg.dest}, "dep": {"N": str(leg.crs_dep_time)}}
    if leg.crs_arr_time is not None:
        attributes["arr"] = {"N": str(leg.crs_arr_time)}
    if leg.distance is not None:
        attributes["distance"] = {"N": repr(leg.distance)}
    return attributes


def _leg(attributes: Mapping[str, Any]) -> Leg:
    arr = attributes.get("arr")
    distance = attributes.get("distance")
    return Leg(
        origin=attributes["origin"]["S"],
        dest=attributes["dest"]["S"],
        crs_dep_time=int(attributes["dep"]["N"]),
        crs_arr_time=None if arr is None else int(arr["N"]),
        distance=None if distance is None else float(distance["N"]),
    )


def _minutes(values: list[dict[str, str]]) -> tuple[int, int | None]:
    scheduled = int(values[0]["N"])
    return scheduled, int(values[1]["N"]) if len(values) > 1 else None
