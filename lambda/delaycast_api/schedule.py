"""The short form of a request, what a traveller knows: `{"flight": "UA1545", "date": "2013-11-05"}`, with an
optional `as_of` (ISO 8601, local at the origin, or with a UTC offset) and `origin` (one leg of several); also
`carrier` + `flight_number` + `flight_date`. Its legs come from the flight store's schedule (one GetItem).

The flight is read by the record's own grammar (`Field.parse` of carrier and flight_number): `UA1545`,
`ua 1545`, `UA 1545`. A 3-letter ICAO airline code (`UAL1545`) is refused with a pointer to the IATA code.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import cast

from delaycast.errors import InvalidInput
from delaycast.fields import BLANKS, FIELDS_BY_NAME, BadValue, is_absent, json_type, shown
from delaycast.store import Leg, coverage_of, flight_key, legs_on, schedule_key
from delaycast_api.answers import ApiError
from delaycast_api.flight_store import FlightStore

SHORT_KEYS = ("flight", "date", "carrier", "flight_number", "flight_date", "as_of", "origin")
ICAO_FLIGHT = re.compile(r"[A-Za-z]{3}[ ]*[0-9]+")
EXAMPLE = '{"flight": "UA1545", "date": "2013-11-05"}'


@dataclass(frozen=True)
class ShortForm:
    """A short-form request, typed."""

    carrier: str
    number: int
    day: dt.date
    as_of: dt.datetime | None  # naive: local at the origin
    origin: str | None

    @property
    def name(self) -> str:
        """`UA1545`."""
        return flight_key(self.carrier, self.number)


class NotInSchedule(ApiError):
    """A flight, date or origin the schedule does not hold: 404, saying what it covers."""

    def __init__(self, detail: str) -> None:
        super().__init__(HTTPStatus.NOT_FOUND, detail)


def is_short_form(document: object) -> bool:
    """A JSON object of the short form: it names `flight`, `date` or `as_of`, or has short-form keys only (so no
    `dest` or `crs_dep_time`)."""
    if not isinstance(document, Mapping):
        return False
    keys = {str(key).strip(BLANKS).lower() for key in document}
    return bool(keys & {"flight", "date", "as_of"}) or (bool(keys) and keys <= set(SHORT_KEYS))


def read_short_form(document: Mapping[str, object]) -> ShortForm:
    """The typed request; InvalidInput (400) names what is wrong."""
    values = {str(key).strip(BLANKS).lower(): value for key, value in document.items()}
    unknown = sorted(set(values) - set(SHORT_KEYS))
    if unknown:
        raise InvalidInput(f"unknown field {shown(unknown[0])} in a short-form request; send {EXAMPLE}")
    carrier, number = _flight(values)
    day = cast(dt.date, _field("flight_date", values.get("date", values.get("flight_date")), "date"))
    origin = None if values.get("origin") is None else str(_field("origin", values["origin"], "origin"))
    return ShortForm(carrier, number, day, _as_of(values.get("as_of")), origin)


def parse_flight(text: str) -> tuple[str, int]:
    """`UA1545`, `ua 1545` or `UA 1545` as (carrier, number)."""
    compact = text.strip(BLANKS)
    if ICAO_FLIGHT.fullmatch(compact):
        raise InvalidInput(
            f"flight {shown(compact)} starts with a 3-letter ICAO airline code: use the 2-character IATA code, "
            f"like UA1545"
        )
    parts = compact.split()
    code, number = (parts[0], parts[1]) if len(parts) == 2 else (compact[:2], compact[2:])
    return str(_field("carrier", code, "flight")), cast(int, _field("flight_number", number, "flight"))


def resolve_legs(store: FlightStore, form: ShortForm) -> list[Leg]:
    """The flight's legs that day (from `origin` only, when given); NotInSchedule says what the schedule holds."""
    legs = legs_on(store.get(schedule_key(form.carrier, form.number, form.day)), form.day)
    if not legs:
        raise NotInSchedule(_not_found(store, form))
    if form.origin is None:
        return legs
    chosen = [leg for leg in legs if leg.origin == form.origin]
    if not chosen:
        origins = ", ".join(sorted({leg.origin for leg in legs}))
        raise NotInSchedule(f"{form.name} on {form.day} leaves from {origins}, not {form.origin}")
    return chosen


def _not_found(store: FlightStore, form: ShortForm) -> str:
    """What the schedule covers, read only when a flight is not found (a Query of the coverage items)."""
    covered = coverage_of(store.coverage_items())
    if covered is None:
        return "the flight store holds no schedule yet"
    first, last = covered
    span = f"the schedule covers {first} to {last}"
    if not first <= form.day <= last:
        return f"{form.day} is outside the schedule: {span}"
    return f"no flight {form.name} on {form.day} in the schedule ({span})"


def _flight(values: Mapping[str, object]) -> tuple[str, int]:
    flight = values.get("flight")
    if flight is None:
        if values.get("carrier") is None or values.get("flight_number") is None:
            raise InvalidInput(f"a short-form request names its flight: {EXAMPLE}")
        carrier = str(_field("carrier", values["carrier"], "carrier"))
        return carrier, cast(int, _field("flight_number", values["flight_number"], "flight_number"))
    if "carrier" in values or "flight_number" in values:
        raise InvalidInput("send flight, or carrier and flight_number, not both")
    if not isinstance(flight, str):
        raise InvalidInput(f"flight must be a string like UA1545, not a JSON {json_type(flight)}")
    return parse_flight(flight)


def _field(name: str, value: object, shown_as: str) -> object:
    """`value` by the grammar of the record's field `name` (a required one); InvalidInput names the key as sent."""
    if is_absent(value):
        raise InvalidInput(f"{shown_as}: a value is required; send {EXAMPLE}")
    try:
        return FIELDS_BY_NAME[name].parse(value)
    except BadValue as error:
        raise InvalidInput(f"{shown_as}: {error.reason}") from None


def _as_of(value: object) -> dt.datetime | None:
    """An ISO 8601 date and time (`2013-11-05T03:15`, `2013-11-05T03:15:00-05:00`, `...Z`), None when absent."""
    if value is None:
        return None
    text = value.strip(BLANKS) if isinstance(value, str) else ""
    try:
        instant = dt.datetime.fromisoformat(text) if "T" in text.upper() or " " in text else None
    except ValueError:
        instant = None
    if instant is None:
        raise InvalidInput(
            f"as_of: {shown(value)} is not an ISO 8601 date and time, like 2013-11-05T03:15 (local at the origin) "
            "or 2013-11-05T03:15:00-05:00"
        )
    return instant
