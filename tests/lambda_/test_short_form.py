"""The short form against moto's DynamoDB server on 127.0.0.1: legs from the schedule, context at both horizons
equal to delaycast.context on the items, one GetItem and one BatchGetItem a request, full records' missing
context filled, and a store that cannot be reached for both forms."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.stub import Stubber

from delaycast.context import context_at, local_minute
from delaycast.errors import ConfigError
from delaycast_api.handler import Handler, lambda_handler
from delaycast_api.settings import Settings
from deploy.local.store import LocalStore, local_store, store_client, write_items
from tests.lambda_.conftest import ENDPOINT
from tests.lambda_.store_world import AA1, B6725, DAY, PREVIOUS, UA1545, WN100, departures, items
from tests.lambda_.support import (
    FLIGHT,
    FLIGHT_SENT,
    FakeContext,
    assert_valid_proxy_response,
    endpoint_answer,
    http_event,
)

TABLE = "delaycast-flights-handler-tests"
NOW = dt.datetime(2013, 11, 5, 8, 15, tzinfo=dt.UTC)  # 03:15 at EWR (EST, UTC-5)
Calls = list[str]


@pytest.fixture(scope="module")
def store() -> Iterator[LocalStore]:
    with local_store(table=TABLE) as running:
        write_items(running.client, TABLE, items())
        yield running


@pytest.fixture
def store_calls() -> Calls:
    return []


@pytest.fixture
def make(store: LocalStore, runtime_client: Any, stubber: Stubber, store_calls: Calls) -> Callable[..., Handler]:
    """A Handler on the stubbed endpoint and a real client of the store whose operations are counted."""

    def build(url: str | None = None, table: str = TABLE, client: Any = None) -> Handler:
        settings = Settings(endpoint_name=ENDPOINT, flight_table=table, dynamodb_url=url or store.url)
        dynamodb = client if client is not None else store_client(settings.dynamodb_url or "")
        dynamodb.meta.events.register("before-call.dynamodb", lambda model, **_: store_calls.append(model.name))
        return Handler(settings, runtime_client, dynamodb, now=lambda: NOW)

    return build


def ask(handler: Handler, body: object) -> tuple[int, Any, dict[str, str]]:
    response = handler.handle(http_event(json.dumps(body)), FakeContext())
    document = assert_valid_proxy_response(response)
    return response["statusCode"], document, response["headers"]


def expect_scored(stubber: Stubber, *lines: str, probability: float = 0.3) -> None:
    """The endpoint must receive exactly these CSV lines, in one call."""
    params = {
        "EndpointName": ENDPOINT,
        "ContentType": "text/csv",
        "Accept": "application/json",
        "Body": "".join(line + "\n" for line in lines).encode(),
    }
    stubber.add_response("invoke_endpoint", endpoint_answer(*[probability] * len(lines)), params)


def cell(value: float | None) -> str:
    return "" if value is None else repr(value)


def line(carrier: str, number: int, leg: Any, context: dict[str, float | None]) -> str:
    """The full record of a leg on DAY, as the model server reads it."""
    arrival = f"{leg.crs_arr_time:04d}"
    cells = [carrier, str(number), leg.origin, leg.dest, DAY.isoformat(), f"{leg.crs_dep_time:04d}", arrival]
    cells += [repr(leg.distance), *(cell(context[name]) for name in CONTEXT_ORDER)]
    return ",".join(cells)


CONTEXT_ORDER = ("origin_delay_rate_prev_day", "origin_delay_rate_today", "minutes_to_departure")


def by_hand(leg: Any, instant: dt.datetime) -> dict[str, float | None]:
    """delaycast.context on the world's own tables, at a local instant."""
    departure = local_minute(DAY, leg.crs_dep_time // 100 * 60 + leg.crs_dep_time % 100)
    minute = local_minute(instant.date(), instant.hour * 60 + instant.minute)
    return context_at(departures(leg.origin, PREVIOUS), departures(leg.origin, DAY), departure, minute)


def shown(context: dict[str, float | None], as_of: str) -> dict[str, object]:
    return {"as_of": as_of, **{k: None if v is None else round(v, 4) for k, v in context.items()}}


def test_one_leg_reads_the_schedule_once_and_the_context_in_one_batch(
    make: Callable[..., Handler], stubber: Stubber, store_calls: Calls
) -> None:
    context = by_hand(UA1545, dt.datetime(2013, 11, 5, 3, 15))
    expect_scored(stubber, line("UA", 1545, UA1545, context))
    status, answer, _ = ask(make(), {"flight": "UA1545", "date": "2013-11-05", "as_of": "2013-11-05T03:15"})
    assert status == 200
    assert answer == {
        "flight": "UA1545",
        "date": "2013-11-05",
        "legs": [
            {
                "origin": "EWR",
                "dest": "IAH",
                "crs_dep_time": "05:15",
                "crs_arr_time": "08:19",
                "distance": 1400.0,
                "context": shown(context, "2013-11-05T03:15-05:00"),
                "prediction": "delay",
                "probability": 0.3,
                "threshold": 0.2,
                "model_version": "0.1.0-test",
            }
        ],
    }
    assert context["origin_delay_rate_prev_day"] is not None
    assert store_calls == ["GetItem", "BatchGetItem"]


def test_several_legs_one_batch_one_endpoint_call_each_origin_in_its_own_zone(
    make: Callable[..., Handler], stubber: Stubber, store_calls: Calls
) -> None:
    # 12:00 UTC is 07:00 at EWR (EST) and 06:00 at MDW (CST)
    first, second = by_hand(WN100[0], dt.datetime(2013, 11, 5, 7)), by_hand(WN100[1], dt.datetime(2013, 11, 5, 6))
    expect_scored(stubber, line("WN", 100, WN100[0], first), line("WN", 100, WN100[1], second))
    status, answer, _ = ask(make(), {"flight": "WN 100", "date": "2013-11-05", "as_of": "2013-11-05T12:00:00Z"})
    assert status == 200
    legs = answer["legs"]
    assert [(leg["origin"], leg["dest"]) for leg in legs] == [("EWR", "MDW"), ("MDW", "DEN")]
    assert [leg["context"] for leg in legs] == [
        shown(first, "2013-11-05T07:00-05:00"),
        shown(second, "2013-11-05T06:00-06:00"),
    ]
    assert store_calls == ["GetItem", "BatchGetItem"]


def test_origin_narrows_a_flight_of_several_legs(make: Callable[..., Handler], stubber: Stubber) -> None:
    context = by_hand(WN100[1], dt.datetime(2013, 11, 5, 8, 30))
    expect_scored(stubber, line("WN", 100, WN100[1], context))
    body = {"flight": "WN100", "date": "2013-11-05", "as_of": "2013-11-05T08:30", "origin": "mdw"}
    status, answer, _ = ask(make(), body)
    assert status == 200
    assert [(leg["origin"], leg["dest"]) for leg in answer["legs"]] == [("MDW", "DEN")]


def test_an_origin_the_flight_does_not_leave_from(make: Callable[..., Handler]) -> None:
    status, answer, _ = ask(make(), {"flight": "WN100", "date": "2013-11-05", "origin": "JFK"})
    assert status == 404
    assert answer["detail"] == "WN100 on 2013-11-05 leaves from EWR, MDW, not JFK"


@pytest.mark.parametrize("flight", ["UA1545", "ua 1545", "UA 1545", " Ua1545 ", "UA  1545"])
def test_flight_forms(make: Callable[..., Handler], stubber: Stubber, flight: str) -> None:
    expect_scored(stubber, line("UA", 1545, UA1545, by_hand(UA1545, dt.datetime(2013, 11, 5, 3, 15))))
    status, answer, _ = ask(make(), {"flight": flight, "date": "2013-11-05"})  # now: 03:15 at EWR
    assert status == 200
    assert answer["flight"] == "UA1545"


def test_carrier_flight_number_and_flight_date(make: Callable[..., Handler], stubber: Stubber) -> None:
    expect_scored(stubber, line("UA", 1545, UA1545, by_hand(UA1545, dt.datetime(2013, 11, 5, 3, 15))))
    status, answer, _ = ask(make(), {"carrier": "ua", "flight_number": "1545", "flight_date": "2013-11-05"})
    assert status == 200
    assert answer["legs"][0]["dest"] == "IAH"


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (
            {"flight": "UAL1545", "date": "2013-11-05"},
            "flight 'UAL1545' starts with a 3-letter ICAO airline code: use the 2-character IATA code, like UA1545",
        ),
        ({"flight": "UA-1545", "date": "2013-11-05"}, "flight: '-1545' is not a whole number"),
        ({"flight": "UA15450", "date": "2013-11-05"}, "flight: '15450' is outside 1..9999"),
        ({"flight": 1545, "date": "2013-11-05"}, "flight must be a string like UA1545, not a JSON number"),
        ({"flight": "UA1545", "date": "2013-11-31"}, "date: '2013-11-31' is not a date YYYY-MM-DD"),
        ({"flight": "UA1545"}, 'date: a value is required; send {"flight": "UA1545", "date": "2013-11-05"}'),
        ({"flight": "UA1545", "date": "2013-11-05", "as_of": "3:15"}, "as_of: '3:15' is not an ISO 8601"),
        ({"flight": "UA1545", "date": "2013-11-05", "gate": "B2"}, "unknown field 'gate' in a short-form"),
        ({"flight": "UA1545", "carrier": "UA", "date": "2013-11-05"}, "send flight, or carrier and flight_number"),
    ],
)
def test_bad_short_forms_are_400s(
    make: Callable[..., Handler], store_calls: Calls, body: dict[str, object], detail: str
) -> None:
    status, answer, _ = ask(make(), body)
    assert status == 400
    assert answer["detail"].startswith(detail), answer["detail"]
    assert store_calls == []


def test_an_unknown_flight_names_what_the_schedule_covers(make: Callable[..., Handler], store_calls: Calls) -> None:
    status, answer, _ = ask(make(), {"flight": "UA9999", "date": "2013-11-05"})
    assert status == 404
    assert answer == {
        "error": "not found",
        "detail": "no flight UA9999 on 2013-11-05 in the schedule (the schedule covers 2013-10-01 to 2013-11-30)",
    }
    assert store_calls == ["GetItem", "Query"]


@pytest.mark.parametrize("day", ["2026-12-04", "2013-09-30", "2013-12-01"])
def test_a_date_outside_the_schedule_names_its_range(make: Callable[..., Handler], day: str) -> None:
    status, answer, _ = ask(make(), {"flight": "UA1545", "date": day})
    assert status == 404
    assert answer["detail"] == f"{day} is outside the schedule: the schedule covers 2013-10-01 to 2013-11-30"


@pytest.mark.parametrize(
    ("as_of", "local"),
    [("2013-11-04T18:00", dt.datetime(2013, 11, 4, 18)), ("2013-11-05T16:00", dt.datetime(2013, 11, 5, 16))],
    ids=["day-before", "same-day-2h"],
)
def test_context_at_both_horizons_is_delaycast_context_on_the_items(
    make: Callable[..., Handler], stubber: Stubber, as_of: str, local: dt.datetime
) -> None:
    context = by_hand(B6725, local)
    expect_scored(stubber, line("B6", 725, B6725, context))
    status, answer, _ = ask(make(), {"flight": "B6725", "date": "2013-11-05", "as_of": as_of})
    assert status == 200
    assert answer["legs"][0]["context"] == shown(context, f"{as_of}-05:00")
    if local.date() == PREVIOUS:
        assert context["origin_delay_rate_today"] is None
        assert context["minutes_to_departure"] == 24 * 60
    else:
        assert context["origin_delay_rate_today"] is not None
        assert context["minutes_to_departure"] == 120


def test_an_as_of_after_the_departure_is_the_departure(make: Callable[..., Handler], stubber: Stubber) -> None:
    context = by_hand(UA1545, dt.datetime(2013, 11, 5, 5, 15))
    expect_scored(stubber, line("UA", 1545, UA1545, context))
    status, answer, _ = ask(make(), {"flight": "UA1545", "date": "2013-11-05", "as_of": "2013-11-05T09:00"})
    assert status == 200
    assert answer["legs"][0]["context"] == {
        **shown(context, "2013-11-05T05:15-05:00"),
        "note": "as_of (or now) is after the scheduled departure: the context known at the departure",
    }
    assert context["minutes_to_departure"] == 0


def test_a_full_record_gets_its_missing_context_from_the_store(
    make: Callable[..., Handler], stubber: Stubber, store_calls: Calls
) -> None:
    context = by_hand(UA1545, dt.datetime(2013, 11, 5, 3, 15))
    sent = {**FLIGHT_SENT, **{name: cell(context[name]) for name in CONTEXT_ORDER}}
    expect_scored(stubber, ",".join(sent.values()))
    status, answer, _ = ask(make(), FLIGHT)
    assert status == 200
    assert answer["context"] == shown(context, "2013-11-05T03:15-05:00")
    assert store_calls == ["BatchGetItem"]


def test_context_the_caller_gives_is_kept(make: Callable[..., Handler], stubber: Stubber, store_calls: Calls) -> None:
    given = {"origin_delay_rate_prev_day": 0.5, "origin_delay_rate_today": 0.25, "minutes_to_departure": 60}
    sent = {**FLIGHT_SENT, "origin_delay_rate_prev_day": "0.5", "origin_delay_rate_today": "0.25"}
    expect_scored(stubber, ",".join({**sent, "minutes_to_departure": "60.0"}.values()))
    status, answer, _ = ask(make(), {**FLIGHT, **given})
    assert status == 200
    assert "context" not in answer
    assert store_calls == []


def test_a_short_form_without_a_store_is_a_501_saying_what_to_send(runtime_client: Any, stubber: Stubber) -> None:
    handler = Handler(Settings(endpoint_name=ENDPOINT), runtime_client)
    status, answer, _ = ask(handler, {"flight": "UA1545", "date": "2013-11-05"})
    assert status == 501
    assert answer["detail"].startswith("this deployment has no flight store (DELAYCAST_FLIGHT_TABLE unset)")


def unreachable(kind: str, make: Callable[..., Handler], refused_url: str, store: LocalStore) -> Handler:
    """A handler whose store cannot be used: nothing listening, no such table, or access denied / throttled."""
    if kind == "refused":
        return make(url=refused_url)
    if kind == "no-table":
        return make(table="delaycast-flights-missing")
    client = store_client(store.url)
    stub = Stubber(client)
    code = "AccessDeniedException" if kind == "denied" else "ProvisionedThroughputExceededException"
    for operation in ("get_item", "batch_get_item") * 3:
        stub.add_client_error(operation, service_error_code=code, http_status_code=400)
    stub.activate()
    return make(client=client)


DEGRADED = ["refused", "no-table", "denied", "throttled"]


@pytest.mark.parametrize("kind", DEGRADED)
def test_a_short_form_with_the_store_unreachable_is_a_503_with_retry_after(
    make: Callable[..., Handler], refused_url: str, store: LocalStore, kind: str
) -> None:
    status, answer, headers = ask(
        unreachable(kind, make, refused_url, store), {"flight": "UA1545", "date": "2013-11-05"}
    )
    assert status == 503
    assert headers["Retry-After"] == "5"
    assert answer["detail"].startswith("the flight store cannot be reached; retry shortly (request id ")


@pytest.mark.parametrize("kind", DEGRADED)
def test_a_full_record_with_the_store_unreachable_scores_without_context_and_says_so(
    make: Callable[..., Handler],
    refused_url: str,
    store: LocalStore,
    stubber: Stubber,
    kind: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    expect_scored(stubber, ",".join(FLIGHT_SENT.values()))
    status, answer, _ = ask(unreachable(kind, make, refused_url, store), FLIGHT)
    assert status == 200
    assert answer["context"] is None
    assert answer["note"] == "the flight store cannot be reached: scored without context"
    logged = [json.loads(r.getMessage()) for r in caplog.records if r.name == "delaycast.lambda"]
    assert logged[-1]["status"] == 200
    assert logged[-1]["store_error"]


def test_the_store_settings_are_read_once_from_the_environment() -> None:
    env = {"ENDPOINT_NAME": "delaycast", "DELAYCAST_FLIGHT_TABLE": "delaycast-flights", "DYNAMODB_URL": "http://x:1"}
    settings = Settings.from_env({**env, "STORE_TIMEOUT_SECONDS": "2.5"})
    assert (settings.flight_table, settings.dynamodb_url) == ("delaycast-flights", "http://x:1")
    assert settings.store_timeout_seconds == 2.5
    assert Settings.from_env({"ENDPOINT_NAME": "delaycast", "DELAYCAST_FLIGHT_TABLE": " "}).flight_table is None
    with pytest.raises(ConfigError, match="DELAYCAST_FLIGHT_TABLE must name a DynamoDB table, got 'a b'"):
        Settings.from_env({"ENDPOINT_NAME": "delaycast", "DELAYCAST_FLIGHT_TABLE": "a b"})
    with pytest.raises(ConfigError, match="DYNAMODB_URL must be an http"):
        Settings.from_env({"ENDPOINT_NAME": "delaycast", "DYNAMODB_URL": "localhost:8000"})


@pytest.mark.usefixtures("cold_container")
def test_lambda_handler_reads_the_store_it_is_given(monkeypatch: pytest.MonkeyPatch, refused_url: str) -> None:
    monkeypatch.setenv("ENDPOINT_NAME", "delaycast")
    monkeypatch.setenv("DELAYCAST_FLIGHT_TABLE", TABLE)
    monkeypatch.setenv("DYNAMODB_URL", refused_url)
    response = lambda_handler(http_event(json.dumps({"flight": "UA1545", "date": "2013-11-05"})), FakeContext())
    assert assert_valid_proxy_response(response)["error"] == "service unavailable"
    assert response["headers"]["Retry-After"] == "5"


def test_an_origin_of_unknown_time_zone_takes_local_time_only(make: Callable[..., Handler], stubber: Stubber) -> None:
    status, answer, _ = ask(make(), {"flight": "AA1", "date": "2013-11-05", "as_of": "2013-11-05T12:00:00Z"})
    assert status == 400
    assert answer["detail"].startswith("the flight store has no time zone for ORD: give as_of as local time")
    expect_scored(stubber, line("AA", 1, AA1, by_hand(AA1, dt.datetime(2013, 11, 5, 7))))
    status, answer, _ = ask(make(), {"flight": "AA1", "date": "2013-11-05", "as_of": "2013-11-05T07:00"})
    assert status == 200
    assert answer["legs"][0]["context"]["as_of"] == "2013-11-05T07:00"


def test_a_full_record_from_an_origin_of_unknown_time_zone_scores_without_context(
    make: Callable[..., Handler], stubber: Stubber
) -> None:
    record = {"carrier": "AA", "flight_number": 1, "origin": "ORD", "dest": "LGA", "flight_date": "2013-11-05"}
    expect_scored(stubber, "AA,1,ORD,LGA,2013-11-05,0900,,,,,")
    status, answer, _ = ask(make(), {**record, "crs_dep_time": "09:00"})
    assert status == 200
    assert (answer["context"], answer["note"]) == (
        None,
        "the flight store has no time zone for ORD: scored without context",
    )
