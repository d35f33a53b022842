"""The context of flights at an instant, from the flight store: one BatchGetItem of each origin's departures items
(the flight's date and the day before) and airport item, then `delaycast.context.context_at`, the rule training
uses too.

The instant is local time at the origin: as sent (`2013-11-05T03:15`), converted with the origin's time zone
when it has a UTC offset, or now at the origin when absent. An instant after the scheduled departure is taken as
the scheduled departure (the answer says so); minutes to departure above the field's range are given as its top.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from delaycast.context import EPOCH, clock_minute, context_at, hhmm_minutes, local_minute
from delaycast.errors import InvalidInput
from delaycast.fields import FIELDS_BY_NAME
from delaycast.store import Item, Key, airport_key, departures_key, departures_of, time_zone_of
from delaycast_api.endpoint import DECIMALS
from delaycast_api.flight_store import FlightStore

MAX_MINUTES = float(FIELDS_BY_NAME["minutes_to_departure"].high or 0)
EPOCH_CLOCK = dt.datetime.combine(EPOCH, dt.time())
# The note of a context capped at the departure (not the instant asked: absent, it is now, and answers would
# differ from one second to the next).
AFTER_DEPARTURE = "as_of (or now) is after the scheduled departure: the context known at the departure"


@dataclass(frozen=True)
class Departing:
    """A flight whose context is wanted: where and when it is scheduled to leave."""

    origin: str
    day: dt.date
    crs_dep_time: int  # HHMM, local at the origin


@dataclass(frozen=True)
class Context:
    """The context fields of one flight and the local instant they are known at."""

    values: dict[str, float | None]
    as_of: dt.datetime  # local at the origin; with its UTC offset when the origin's time zone is known
    capped: bool  # the instant asked for (or now) was after the scheduled departure

    def document(self) -> dict[str, object]:
        """The context as the answer shows it: as_of, each field (shares to 4 decimals), a note when capped."""
        shown: dict[str, object] = {"as_of": self.as_of.isoformat(timespec="minutes")}
        shown.update({name: None if v is None else round(v, DECIMALS) for name, v in self.values.items()})
        if self.capped:
            shown["note"] = AFTER_DEPARTURE
        return shown


class NoTimeZone(InvalidInput):
    """An instant with a UTC offset (or now) at an origin whose time zone the store does not know."""

    def __init__(self, origin: str) -> None:
        super().__init__(
            f"the flight store has no time zone for {origin}: give as_of as local time at the origin, "
            "like 2013-11-05T03:15"
        )


def context_keys(flights: Sequence[Departing]) -> list[Key]:
    """The items the contexts of `flights` read: three a flight, in order."""
    keys: list[Key] = []
    for flight in flights:
        previous = flight.day - dt.timedelta(days=1)
        keys += [departures_key(flight.origin, flight.day), departures_key(flight.origin, previous)]
        keys.append(airport_key(flight.origin))
    return keys


def read_contexts(
    store: FlightStore, flights: Sequence[Departing], as_of: dt.datetime | None, now: dt.datetime
) -> list[Context]:
    """The context of each flight at `as_of` (local when naive; `now`, aware, when None): one batched read."""
    items = store.get_many(context_keys(flights))
    instant = as_of if as_of is not None else now
    return [context_of(flight, items[3 * i : 3 * i + 3], instant) for i, flight in enumerate(flights)]


def context_of(flight: Departing, items: Sequence[Item | None], instant: dt.datetime) -> Context:
    """One flight's context at `instant` from its three items (`context_keys`: departures on its day and the day
    before, its origin's airport); NoTimeZone when the instant cannot be read as local time."""
    same_day, previous_day, airport = items
    zone = _zone(time_zone_of(airport))
    local = _local(instant, zone, flight.origin)
    departure = local_minute(flight.day, hhmm_minutes(flight.crs_dep_time))
    minute = min(clock_minute(local), departure)
    values = context_at(
        departures_of(previous_day, flight.day - dt.timedelta(days=1)),
        departures_of(same_day, flight.day),
        departure,
        minute,
    )
    values["minutes_to_departure"] = min(float(departure - minute), MAX_MINUTES)
    at = EPOCH_CLOCK + dt.timedelta(minutes=minute)
    capped = clock_minute(local) > departure
    return Context(values, at if zone is None else at.replace(tzinfo=zone), capped)


def _zone(name: str | None) -> ZoneInfo | None:
    if name is None:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def _local(instant: dt.datetime, zone: ZoneInfo | None, origin: str) -> dt.datetime:
    """`instant` as naive local time at the origin."""
    if instant.tzinfo is None:
        return instant
    if zone is None:
        raise NoTimeZone(origin)
    return instant.astimezone(zone).replace(tzinfo=None)
