"""The canonical flight record's fields: pure Python, shared by the model, the server and the Lambda.

The Lambda package carries this file (it has no pandas); `delaycast.schema`
adds the vectorised validation the model and the server use.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Field:
    """One input field of the model."""

    name: str
    kind: str  # carrier | airport | int | date | hhmm | float
    required: bool
    description: str
    low: float | None = None
    high: float | None = None

    def as_manifest(self) -> dict[str, Any]:
        """The field as written into the model manifest."""
        spec: dict[str, Any] = {
            "name": self.name,
            "type": self.kind,
            "required": self.required,
            "description": self.description,
        }
        if self.low is not None:
            spec["minimum"] = self.low
        if self.high is not None:
            spec["maximum"] = self.high
        return spec


FIELDS: tuple[Field, ...] = (
    Field("carrier", "carrier", True, "marketing/reporting carrier IATA code, e.g. UA"),
    Field("flight_number", "int", True, "flight number", 1, 9999),
    Field("origin", "airport", True, "origin airport IATA code, e.g. JFK"),
    Field("dest", "airport", True, "destination airport IATA code, e.g. LAX"),
    Field("flight_date", "date", True, "scheduled departure date, YYYY-MM-DD"),
    Field("crs_dep_time", "hhmm", True, "scheduled local departure time, HHMM"),
    Field("crs_arr_time", "hhmm", False, "scheduled local arrival time, HHMM"),
    Field("distance", "float", False, "great-circle distance in miles; filled from the route if absent", 1, 10000),
    Field(
        "origin_delay_rate_prev_day",
        "float",
        False,
        "share of the origin airport's flights delayed 15+ min the day before; optional context",
        0,
        1,
    ),
)
FIELD_NAMES: tuple[str, ...] = tuple(f.name for f in FIELDS)
REQUIRED_FIELDS: tuple[str, ...] = tuple(f.name for f in FIELDS if f.required)
FIELDS_BY_NAME: dict[str, Field] = {f.name: f for f in FIELDS}

# Column names of the public on-time data sets that map one to one onto a field.
KAGGLE_COLUMNS: dict[str, str] = {
    "FL_DATE": "flight_date",
    "OP_CARRIER": "carrier",
    "OP_CARRIER_FL_NUM": "flight_number",
    "ORIGIN": "origin",
    "DEST": "dest",
    "CRS_DEP_TIME": "crs_dep_time",
    "CRS_ARR_TIME": "crs_arr_time",
    "DISTANCE": "distance",
}
BTS_COLUMNS: dict[str, str] = {
    "FlightDate": "flight_date",
    "Reporting_Airline": "carrier",
    "Flight_Number_Reporting_Airline": "flight_number",
    "Origin": "origin",
    "Dest": "dest",
    "CRSDepTime": "crs_dep_time",
    "CRSArrTime": "crs_arr_time",
    "Distance": "distance",
}
# Any header a caller may send: our field names, or Kaggle's or BTS's columns.
COLUMN_ALIASES: dict[str, str] = {**{n: n for n in FIELD_NAMES}, **KAGGLE_COLUMNS, **BTS_COLUMNS}
