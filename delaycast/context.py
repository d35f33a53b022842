"""Context: what is known at an airport at the instant of a prediction. One definition, pure Python.

The Lambda computes it from the flight store for each request; training computes it for every flight at a
sampled prediction instant with a vectorised copy (`train.context`), which property tests hold to this one.

Times are minutes on the airport's local clock, counted from 1970-01-01 00:00 (`local_minute`), as the DOT
data gives its times. A departure's lateness (15+ minutes after its schedule) becomes known:
- at its actual departure, when it leaves less than 15 minutes late (it is then on time);
- 15 minutes after its scheduled departure otherwise: it has not left by then, so it is late, whenever (or if
  ever: a cancellation counts as late) it leaves.
A departure whose lateness is not known at the instant does not count. So no feature depends on anything that
happens after the instant: not the delay of a flight still on the ground, not a departure still to come.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

LATE_MINUTES = 15  # a departure this late or later is late (the label's own threshold, for arrivals)
MIN_KNOWN = 5  # a share of fewer known departures is no context (None)
MINUTES_PER_DAY = 24 * 60
EPOCH = dt.date(1970, 1, 1)
# The fields a model with context reads, filled by the caller or the Lambda (delaycast.fields describes them).
CONTEXT_FIELDS = ("origin_delay_rate_prev_day", "origin_delay_rate_today", "minutes_to_departure")


@dataclass(frozen=True)
class Departure:
    """One scheduled departure and, once it left, when: minutes on the airport's local clock."""

    scheduled: int
    actual: int | None = None  # None: not departed (yet), or cancelled

    def known_at(self) -> tuple[int, bool]:
        """When its lateness becomes known, and whether it is late."""
        if self.actual is not None and self.actual - self.scheduled < LATE_MINUTES:
            return self.actual, False
        return self.scheduled + LATE_MINUTES, True


def local_minute(day: dt.date, minute_of_day: int = 0) -> int:
    """Minutes from 1970-01-01 00:00 to `minute_of_day` of `day`, on one local clock."""
    return (day - EPOCH).days * MINUTES_PER_DAY + minute_of_day


def clock_minute(instant: dt.datetime) -> int:
    """A local wall-clock instant (naive) as minutes on that clock; seconds are dropped."""
    return local_minute(instant.date(), instant.hour * 60 + instant.minute)


def hhmm_minutes(hhmm: int) -> int:
    """HHMM (0000..2400) as minutes after midnight."""
    return hhmm // 100 * 60 + hhmm % 100


def late_share(departures: Iterable[Departure], instant: int) -> float | None:
    """The share of departures known at `instant` to be late; None when fewer than MIN_KNOWN are known."""
    known = late = 0
    for departure in departures:
        when, is_late = departure.known_at()
        if when <= instant:
            known += 1
            late += is_late
    return late / known if known >= MIN_KNOWN else None


def context_at(
    previous_day: Iterable[Departure], same_day: Iterable[Departure], scheduled_departure: int, instant: int
) -> dict[str, float | None]:
    """The context fields of a flight predicted at `instant`, from its origin's departures of the day before its
    own and of its own day (CONTEXT_FIELDS, None where nothing is known)."""
    return {
        "origin_delay_rate_prev_day": late_share(previous_day, instant),
        "origin_delay_rate_today": late_share(same_day, instant),
        "minutes_to_departure": float(scheduled_departure - instant),
    }
