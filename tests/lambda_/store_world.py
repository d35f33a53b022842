"""A small flight store for the handler's tests: three flights on 2013-11-05 (one of two legs), the departures of
EWR and MDW on that day and the day before, two airports' time zones, two months of coverage. Each departure is
given once, as minutes after its day's midnight, so a test computes the context from these tables by hand."""

from __future__ import annotations

import datetime as dt

from delaycast.context import Departure, local_minute
from delaycast.store import Item, Leg, airport_item, coverage_item, departures_item, schedule_item

DAY = dt.date(2013, 11, 5)
PREVIOUS = DAY - dt.timedelta(days=1)
UA1545 = Leg("EWR", "IAH", 515, 819, 1400.0)
B6725 = Leg("EWR", "FLL", 1800, 2104, 1065.0)
WN100 = (Leg("EWR", "MDW", 700, 845, 711.0), Leg("MDW", "DEN", 1030, 1205, 895.0))
AA1 = Leg("ORD", "LGA", 900, 1215, 733.0)  # ORD: no airport item, so no time zone
SCHEDULE = {("UA", 1545): [UA1545], ("B6", 725): [B6725], ("WN", 100): list(WN100), ("AA", 1): [AA1]}
COVERED = (dt.date(2013, 10, 1), dt.date(2013, 11, 30))


def _departures(first: int, delays: list[int | None]) -> dict[str, tuple[int, int | None]]:
    """Hourly departures from minute `first`, each `delay` minutes late (None: cancelled)."""
    table = {}
    for k, delay in enumerate(delays):
        scheduled = first + 60 * k
        table[f"XX{k + 1}@{scheduled // 60:02d}{scheduled % 60:02d}"] = (
            scheduled,
            None if delay is None else scheduled + delay,
        )
    return table


# (airport, day) -> departure name -> (scheduled, actual) minutes after that day's midnight
DEPARTURES: dict[tuple[str, dt.date], dict[str, tuple[int, int | None]]] = {
    ("EWR", PREVIOUS): _departures(360, [0, 5, 30, 2, None, 45, 1, 0, 20, 3, 16, 7, 60, 2, 0, 9]),
    ("EWR", DAY): {**_departures(300, [0, 25, 3, 40, 1, 2, None, 18, 4, 0, 35, 1]), "UA1545@0515": (315, 322)},
    ("MDW", PREVIOUS): _departures(420, [10, 0, 50, 3, 1, 22]),
    ("MDW", DAY): _departures(360, [0, 30, 1, 2, 16, 0, 3]),
}
ZONES = {"EWR": "America/New_York", "MDW": "America/Chicago"}


def items() -> list[Item]:
    """Every item of the world, as the ingest writes them."""
    found = [schedule_item(c, n, DAY, {DAY.day: legs}) for (c, n), legs in SCHEDULE.items()]
    found += [departures_item(airport, day, table, None) for (airport, day), table in DEPARTURES.items()]
    found += [airport_item(airport, zone) for airport, zone in ZONES.items()]
    found += [coverage_item(dt.date(2013, 10, 1), dt.date(2013, 10, 31)), coverage_item(DAY.replace(day=1), COVERED[1])]
    return found


def departures(airport: str, day: dt.date) -> list[Departure]:
    """The world's departures of an airport on a day, on delaycast.context's local clock."""
    midnight = local_minute(day)
    return [
        Departure(midnight + scheduled, None if actual is None else midnight + actual)
        for scheduled, actual in DEPARTURES.get((airport, day), {}).values()
    ]
