"""Validation before the endpoint, by delaycast's own validator: every bad input is a 400 naming the record (from 0)
and the field, in the words of the model server; nothing bad is sent."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from botocore.stub import Stubber

from delaycast.fields import FIELD_NAMES, REQUIRED_FIELDS
from tests.lambda_.conftest import EventMaker
from tests.lambda_.support import (
    FLIGHT,
    FLIGHT_SENT,
    FakeContext,
    assert_valid_proxy_response,
    endpoint_answer,
    http_event,
    rest_event,
    sent_line,
)

Calls = list[dict[str, Any]]


def flight(**changes: Any) -> dict[str, Any]:
    """FLIGHT with some fields changed; a value of ... removes the field."""
    record = {**FLIGHT, **changes}
    return {name: value for name, value in record.items() if value is not ...}


def three_flights_with(**changes: Any) -> list[dict[str, Any]]:
    return [FLIGHT, FLIGHT, flight(**changes)]


TIME = "is not a time HHMM or HH:MM (0000 to 2400)"
ONE_FLIGHT_ERRORS = [
    (flight(gate="B12"), "record 0: unknown field 'gate'; the fields are carrier, flight_number, origin"),
    (flight(Carrier="UA"), "record 0: 'carrier' and 'Carrier' both give field carrier"),
    ({**flight(flight_date=...), "FL_DATE": "2013-11-05", "FlightDate": "2013-11-05"}, "record 0: 'FL_DATE' and"),
    (flight(crs_dep_time=...), "record 0, field crs_dep_time: a value is required"),
    (flight(origin=None, dest=""), "record 0, field origin: a value is required"),
    (flight(carrier="U"), "record 0, field carrier: 'U' is not an IATA carrier code like UA"),
    (flight(carrier="U-A"), "record 0, field carrier: 'U-A' is not an IATA carrier code like UA"),
    (flight(carrier=12), "record 0, field carrier: 12 is not an IATA carrier code like UA"),
    (
        flight(carrier="\ufb05x"),
        "record 0, field carrier: '\ufb05x' is not an IATA carrier code",
    ),  # U+FB05 upper-cases to ST
    (
        flight(carrier="\u00df"),
        "record 0, field carrier: '\u00df' is not an IATA carrier code",
    ),  # U+00DF upper-cases to SS
    (
        flight(dest="\u0131ah"),
        "record 0, field dest: '\u0131ah' is not an IATA airport code",
    ),  # U+0131 upper-cases to I
    (flight(dest="J3K"), "record 0, field dest: 'J3K' is not an IATA airport code like JFK"),
    (flight(dest="JFKX"), "record 0, field dest: 'JFKX' is not an IATA airport code like JFK"),
    (flight(flight_date="2013-02-30"), "record 0, field flight_date: '2013-02-30' is not a date YYYY-MM-DD"),
    (flight(flight_date="11/05/2013"), "record 0, field flight_date: '11/05/2013' is not a date YYYY-MM-DD"),
    (flight(flight_date="20131105"), "record 0, field flight_date: '20131105' is not a date YYYY-MM-DD"),
    (flight(crs_dep_time="24:01"), f"record 0, field crs_dep_time: '24:01' {TIME}"),
    (flight(crs_dep_time="7:75"), f"record 0, field crs_dep_time: '7:75' {TIME}"),
    (flight(crs_dep_time="1e3"), f"record 0, field crs_dep_time: '1e3' {TIME}"),
    (flight(crs_dep_time=2460), f"record 0, field crs_dep_time: 2460 {TIME}"),
    (flight(crs_dep_time=-5), f"record 0, field crs_dep_time: -5 {TIME}"),
    (flight(crs_arr_time="noon"), f"record 0, field crs_arr_time: 'noon' {TIME}"),
    (flight(crs_arr_time=7.5), f"record 0, field crs_arr_time: 7.5 {TIME}"),
    (flight(flight_number=0), "record 0, field flight_number: 0 is outside 1..9999"),
    (flight(flight_number="10000"), "record 0, field flight_number: '10000' is outside 1..9999"),
    (flight(flight_number=12.5), "record 0, field flight_number: 12.5 is not a whole number"),
    (flight(flight_number="UA12"), "record 0, field flight_number: 'UA12' is not a whole number"),
    (flight(flight_number="\u0661\u0665\u0664\u0665"), "record 0, field flight_number: '\u0661\u0665\u0664\u0665' is"),
    (flight(flight_number="1e3"), "record 0, field flight_number: '1e3' is not a whole number"),
    (flight(flight_number="1_545"), "record 0, field flight_number: '1_545' is not a whole number"),
    (flight(flight_number="+1545"), "record 0, field flight_number: '+1545' is not a whole number"),
    (flight(flight_number=True), "record 0, field flight_number: expected a string or number, got JSON boolean"),
    (flight(distance=0), "record 0, field distance: 0 is outside 1..10000"),
    (flight(distance="25000"), "record 0, field distance: '25000' is outside 1..10000"),
    (flight(distance=[1400]), "record 0, field distance: expected a string or number, got JSON array"),
    (flight(carrier={"code": "UA"}), "record 0, field carrier: expected a string or number, got JSON object"),
    (flight(origin_delay_rate_prev_day=1.5), "record 0, field origin_delay_rate_prev_day: 1.5 is outside 0..1"),
    (flight(origin_delay_rate_prev_day=-0.1), "record 0, field origin_delay_rate_prev_day: -0.1 is outside 0..1"),
    (flight(origin_delay_rate_prev_day="nan"), "record 0, field origin_delay_rate_prev_day: 'nan' is not a number"),
]


@pytest.mark.parametrize(("record", "detail"), ONE_FLIGHT_ERRORS)
def test_one_bad_flight_is_400_naming_the_field(
    make_handler: Callable[..., Any], make_event: EventMaker, calls: Calls, record: dict[str, Any], detail: str
) -> None:
    response = make_handler().handle(make_event(json.dumps(record)), FakeContext())
    body = assert_valid_proxy_response(response)
    assert response["statusCode"] == 400
    assert body["error"] == "invalid input"
    assert body["detail"].startswith(detail), body["detail"]
    assert calls == []


LIST_ERRORS = [
    (three_flights_with(origin="JF"), "record 2, field origin: 'JF' is not an IATA airport code like JFK"),
    (three_flights_with(distance={}), "record 2, field distance: expected a string or number, got JSON object"),
    (three_flights_with(flight_date=...), "record 2, field flight_date: a value is required"),
    (three_flights_with(seats=180), "record 2: unknown field 'seats'"),
    ([FLIGHT, "UA 1545"], "record 1: expected a flight object, got JSON string"),
    ([FLIGHT, [FLIGHT]], "record 1: expected a flight object, got JSON array"),
    ([None], "record 0: expected a flight object, got JSON null"),
]


@pytest.mark.parametrize(("document", "detail"), LIST_ERRORS)
def test_a_bad_flight_in_a_list_is_400_naming_index_and_field(
    make_handler: Callable[..., Any], make_event: EventMaker, calls: Calls, document: list[Any], detail: str
) -> None:
    response = make_handler().handle(make_event(json.dumps(document)), FakeContext())
    body = assert_valid_proxy_response(response)
    assert response["statusCode"] == 400
    assert body["detail"].startswith(detail), body["detail"]
    assert calls == []


BODY_ERRORS = [
    ("42", "the body must be a flight object or a list of them, not a JSON number"),
    ('"UA,1545"', "not a JSON string"),
    ("null", "not a JSON null"),
    ("true", "not a JSON boolean"),
    ("[]", "the list of flights is empty"),
    ("", "the body is empty"),
    ("   \n", "the body is empty"),
    ('{"carrier": "UA",', "the body is not valid JSON"),
    ('{"distance": NaN}', "NaN is not a JSON number"),
    ("[" * 100_000 + "]" * 100_000, "the body is JSON this service cannot read"),
]


@pytest.mark.parametrize(("text", "detail"), BODY_ERRORS)
def test_a_body_that_is_not_flights_is_400(
    make_handler: Callable[..., Any], make_event: EventMaker, calls: Calls, text: str, detail: str
) -> None:
    response = make_handler().handle(make_event(text), FakeContext())
    assert detail in assert_valid_proxy_response(response)["detail"]
    assert response["statusCode"] == 400
    assert calls == []


def test_more_flights_than_max_batch_is_400(make_handler: Callable[..., Any], calls: Calls) -> None:
    response = make_handler().handle(rest_event(json.dumps([FLIGHT] * 101)), FakeContext())
    assert "101 flights in one request; the limit is 100" in assert_valid_proxy_response(response)["detail"]
    assert response["statusCode"] == 400
    response = make_handler(max_batch=2).handle(http_event(json.dumps([FLIGHT] * 3)), FakeContext())
    assert "the limit is 2" in assert_valid_proxy_response(response)["detail"]
    assert calls == []


def test_exactly_max_batch_flights_are_scored(make_handler: Callable[..., Any], stubber: Stubber) -> None:
    stubber.add_response("invoke_endpoint", endpoint_answer(0.1, 0.2))
    response = make_handler(max_batch=2).handle(http_event(json.dumps([FLIGHT] * 2)), FakeContext())
    assert len(assert_valid_proxy_response(response)) == 2


WIDTH = "fields; without a header send 6 to 11"
CSV_ERRORS = [
    ("UA,1545,EWR,IAH,2013-11-05,0515\nUA,1545,EWR,IAH,2013-11-05\n", f"record 1: 5 {WIDTH}"),
    ("UA,1545,EWR,IAH,2013-11-05,0515,0819,1400,0.2,0.1,30,extra\n", f"record 0: 12 {WIDTH}"),
    (",".join(FIELD_NAMES) + "\nUA,1545,EWR,IAH,2013-11-05,0515\n", "send CSV rows without a header"),
    ("Carrier,Flight_Number\nUA,1545,EWR,IAH,2013-11-05,0515\n", "send CSV rows without a header"),
    (
        "UA,1545,EWR,IAH,2013-11-05,0515\nUA,1545,EWR,I,2013-11-05,0515\n",
        "record 1, field dest: 'I' is not an IATA airport code like JFK",
    ),
    ("UA,1545,EWR,IAH,2013-11-05,\n", "record 0, field crs_dep_time: a value is required"),
    ("UA,1e3,EWR,IAH,2013-11-05,0515\n", "record 0, field flight_number: '1e3' is not a whole number"),
    ('UA,1545,EWR,IAH,2013-11-05,"0515\n', "the body is not valid CSV"),
]


@pytest.mark.parametrize(("text", "detail"), CSV_ERRORS)
def test_bad_csv_is_400_naming_row_and_field(
    make_handler: Callable[..., Any], make_event: EventMaker, calls: Calls, text: str, detail: str
) -> None:
    response = make_handler().handle(make_event(text, headers={"Content-Type": "text/csv"}), FakeContext())
    body = assert_valid_proxy_response(response)
    assert body["detail"].startswith(detail), body["detail"]
    assert response["statusCode"] == 400
    assert calls == []


def test_the_csv_error_lists_the_field_order(make_handler: Callable[..., Any], calls: Calls) -> None:
    event = rest_event("UA,1545\n", headers={"content-type": "text/csv"})
    detail = assert_valid_proxy_response(make_handler().handle(event, FakeContext()))["detail"]
    assert ",".join(FIELD_NAMES) in detail
    assert f"send {len(REQUIRED_FIELDS)} to {len(FIELD_NAMES)}" in detail


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (b"\xff\xfe{}", "the body is not valid UTF-8 text (byte 0)"),
        ("not base64!", "the body is marked base64-encoded but is not valid base64"),
    ],
)
def test_undecodable_bodies_are_400(
    make_handler: Callable[..., Any], make_event: EventMaker, calls: Calls, body: bytes | str, detail: str
) -> None:
    event = make_event(None, base64_body=True)
    event["body"] = body if isinstance(body, str) else make_event(body, base64_body=True)["body"]
    response = make_handler().handle(event, FakeContext())
    assert assert_valid_proxy_response(response)["detail"] == detail
    assert response["statusCode"] == 400
    assert calls == []


@pytest.mark.parametrize(
    ("given", "sent"),
    [
        ("05:15", "0515"),
        ("0515", "0515"),
        (515, "0515"),
        ("07:15", "0715"),
        ("7:15", "0715"),
        ("0715", "0715"),
        ("715", "0715"),
        (715, "0715"),
        (715.0, "0715"),
        (" 23:59 ", "2359"),
        ("24:00", "2400"),
        (0, "0000"),
        ("00:00", "0000"),
    ],
)
def test_times_human_or_hhmm_are_sent_as_hhmm(
    make_handler: Callable[..., Any], stubber: Stubber, calls: Calls, given: object, sent: str
) -> None:
    stubber.add_response("invoke_endpoint", endpoint_answer(0.4))
    response = make_handler().handle(http_event(json.dumps(flight(crs_dep_time=given))), FakeContext())
    assert_valid_proxy_response(response)
    assert response["statusCode"] == 200, response["body"]
    assert calls[0]["Body"].decode() == sent_line({**FLIGHT_SENT, "crs_dep_time": sent}) + "\n"


def test_optional_fields_may_be_null_and_values_are_normalised(
    make_handler: Callable[..., Any], stubber: Stubber, calls: Calls
) -> None:
    stubber.add_response("invoke_endpoint", endpoint_answer(0.4))
    record = {
        "carrier": " 9e ",
        "flight_number": "0042",
        "origin": "lga",
        "dest": "Bos",
        "flight_date": "2013-07-04",
        "crs_dep_time": 600,
        "crs_arr_time": None,
        "distance": "184.5",
        "origin_delay_rate_prev_day": 0.25,
    }
    response = make_handler().handle(rest_event(json.dumps(record)), FakeContext())
    assert_valid_proxy_response(response)
    assert response["statusCode"] == 200, response["body"]
    assert calls[0]["Body"] == b"9E,42,LGA,BOS,2013-07-04,0600,,184.5,0.25,,\n"
