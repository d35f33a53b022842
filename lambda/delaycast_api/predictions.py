"""From validated input to the answer: a short form's legs and context from the flight store, full records' missing
context filled from it, every record scored in one InvokeEndpoint call.

A short form answers `{"flight", "date", "legs": [...]}`, one entry a leg: the leg (route, scheduled times,
distance), the context used with its as-of time, and the endpoint's result. A full record answers the endpoint's
result, and `context` when the store filled some of it; when the store cannot be reached it still scores, without
context, and says so in `note`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, cast

from delaycast.context import CONTEXT_FIELDS
from delaycast.fields import FIELD_NAMES
from delaycast.records import Record
from delaycast.store import Item, Leg
from delaycast_api.answers import ApiError
from delaycast_api.endpoint import RuntimeClient, score
from delaycast_api.flight_store import FlightStore, StoreUnavailable
from delaycast_api.flights import Flights, csv_line
from delaycast_api.live_context import Context, Departing, NoTimeZone, context_keys, context_of, read_contexts
from delaycast_api.schedule import ShortForm, read_short_form, resolve_legs

CONTEXT_POSITIONS = tuple(FIELD_NAMES.index(name) for name in CONTEXT_FIELDS)
ORIGIN, DATE, DEPARTURE = (FIELD_NAMES.index(name) for name in ("origin", "flight_date", "crs_dep_time"))
UNREACHABLE_NOTE = "the flight store cannot be reached: scored without context"


def utc_now() -> dt.datetime:
    """Now, with its UTC offset."""
    return dt.datetime.now(dt.UTC)


class NoStore(ApiError):
    """A short form where no flight store is configured: 501, saying what to send instead."""

    def __init__(self) -> None:
        detail = "this deployment has no flight store (DELAYCAST_FLIGHT_TABLE unset): send full flight records"
        super().__init__(HTTPStatus.NOT_IMPLEMENTED, detail)


@dataclass
class Scored:
    """An answer document, how many records it scored, and the store's failure it scored despite (logged)."""

    document: object
    records: int
    store_failure: StoreUnavailable | None = None


@dataclass(frozen=True)
class Predictor:
    """Scores requests on the endpoint, with the flight store when one is configured."""

    client: RuntimeClient
    endpoint_name: str
    store: FlightStore | None
    now: Callable[[], dt.datetime] = utc_now

    def short_form(self, document: Mapping[str, object]) -> Scored:
        """A flight and a date: its legs, their context and their predictions, in one answer."""
        form = read_short_form(document)
        if self.store is None:
            raise NoStore()
        legs = resolve_legs(self.store, form)
        departing = [Departing(leg.origin, form.day, leg.crs_dep_time) for leg in legs]
        contexts = read_contexts(self.store, departing, form.as_of, self.now())
        records = [leg_record(form, leg, context) for leg, context in zip(legs, contexts, strict=True)]
        results = score(self.client, self.endpoint_name, [csv_line(record) for record in records])
        entries = [
            {**leg_document(leg), "context": context.document(), **result}
            for leg, context, result in zip(legs, contexts, results, strict=True)
        ]
        return Scored({"flight": form.name, "date": form.day.isoformat(), "legs": entries}, len(records))

    def full_records(self, flights: Flights) -> Scored:
        """Full records, any missing context filled from the store first."""
        records, shown, failure = self._filled(flights.records)
        results = score(self.client, self.endpoint_name, [csv_line(record) for record in records])
        answers = [{**result, **(extra or {})} for result, extra in zip(results, shown, strict=True)]
        return Scored(answers[0] if flights.single else answers, len(records), failure)

    def _filled(
        self, records: list[Record]
    ) -> tuple[list[Record], list[dict[str, Any] | None], StoreUnavailable | None]:
        """The records with the store's context where theirs is missing, what each answer adds, any failure."""
        wanting = [i for i, record in enumerate(records) if any(record[p] is None for p in CONTEXT_POSITIONS)]
        shown: list[dict[str, Any] | None] = [None] * len(records)
        if self.store is None or not wanting:
            return records, shown, None
        departing = [_departing(records[i]) for i in wanting]
        try:
            items = self.store.get_many(context_keys(departing))
        except StoreUnavailable as failure:
            for i in wanting:
                shown[i] = {"context": None, "note": UNREACHABLE_NOTE}
            return records, shown, failure
        filled = list(records)
        now = self.now()
        for n, (i, flight) in enumerate(zip(wanting, departing, strict=True)):
            filled[i], shown[i] = _fill(records[i], flight, items[3 * n : 3 * n + 3], now)
        return filled, shown, None


def _departing(record: Record) -> Departing:
    """Where and when a validated record leaves."""
    return Departing(cast(str, record[ORIGIN]), cast(dt.date, record[DATE]), cast(int, record[DEPARTURE]))


def _fill(
    record: Record, flight: Departing, items: Sequence[Item | None], now: dt.datetime
) -> tuple[Record, dict[str, Any]]:
    """One record with the context it lacks (now at its origin); what its answer adds."""
    try:
        context = context_of(flight, items, now)
    except NoTimeZone:
        note = f"the flight store has no time zone for {flight.origin}: scored without context"
        return record, {"context": None, "note": note}
    values = list(record)
    sent: dict[str, float | None] = {}
    for position, name in zip(CONTEXT_POSITIONS, CONTEXT_FIELDS, strict=True):
        given = record[position]
        values[position] = context.values[name] if given is None else given
        sent[name] = values[position]  # type: ignore[assignment]
    return tuple(values), {"context": dataclasses.replace(context, values=sent).document()}


def leg_record(form: ShortForm, leg: Leg, context: Context) -> Record:
    """The full record of a leg with its context, in FIELDS order."""
    known = {
        "carrier": form.carrier,
        "flight_number": form.number,
        "origin": leg.origin,
        "dest": leg.dest,
        "flight_date": form.day,
        "crs_dep_time": leg.crs_dep_time,
        "crs_arr_time": leg.crs_arr_time,
        "distance": leg.distance,
        **context.values,
    }
    return tuple(known[name] for name in FIELD_NAMES)


def leg_document(leg: Leg) -> dict[str, object]:
    """A leg as the answer shows it: times as HH:MM, local at their airports."""
    return {
        "origin": leg.origin,
        "dest": leg.dest,
        "crs_dep_time": _clock(leg.crs_dep_time),
        "crs_arr_time": None if leg.crs_arr_time is None else _clock(leg.crs_arr_time),
        "distance": leg.distance,
    }


def _clock(hhmm: int) -> str:
    return f"{hhmm // 100:02d}:{hhmm % 100:02d}"
