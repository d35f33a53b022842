"""The one grammar of each field: what every path accepts, how it types it, and the words it refuses with."""

from __future__ import annotations

import datetime as dt

import pytest

from delaycast.fields import FIELDS, FIELDS_BY_NAME, BadValue, Value, shown

ACCEPTED: list[tuple[str, object, Value]] = [
    ("carrier", "UA", "UA"),
    ("carrier", " ua\t", "UA"),
    ("carrier", "B6", "B6"),
    ("origin", "ewr", "EWR"),
    ("flight_number", "1545", 1545),
    ("flight_number", "01545", 1545),
    ("flight_number", 1545, 1545),
    ("flight_number", 1545.0, 1545),
    ("flight_date", "2013-11-05", dt.date(2013, 11, 5)),
    ("flight_date", "2012-02-29", dt.date(2012, 2, 29)),
    ("flight_date", dt.datetime(2013, 11, 5, 0, 0), dt.date(2013, 11, 5)),
    ("crs_dep_time", "0515", 515),
    ("crs_dep_time", "515", 515),
    ("crs_dep_time", "05:15", 515),
    ("crs_dep_time", "5:15", 515),
    ("crs_dep_time", "2400", 2400),
    ("crs_dep_time", "24:00", 2400),
    ("crs_dep_time", 0, 0),
    ("crs_dep_time", 2359.0, 2359),
    ("crs_arr_time", "", None),
    ("crs_arr_time", None, None),
    ("distance", "1400", 1400.0),
    ("distance", "1400.5", 1400.5),
    ("origin_delay_rate_prev_day", ".5", 0.5),
    ("origin_delay_rate_prev_day", "1.", 1.0),
    ("distance", 1400, 1400.0),
    ("distance", float("nan"), None),
    ("origin_delay_rate_prev_day", "0.25", 0.25),
    ("origin_delay_rate_prev_day", "1e-07", 1e-07),
    ("distance", "1.4E3", 1400.0),
    ("origin_delay_rate_prev_day", "  ", None),
]
REFUSED: list[tuple[str, object, str]] = [
    ("carrier", "U", "'U' is not an IATA carrier code like UA"),
    ("carrier", "UAL", "'UAL' is not an IATA carrier code like UA"),
    ("carrier", "\u00df", "'\u00df' is not an IATA carrier code like UA"),  # sharp s: upper() gives "SS"
    ("carrier", 12, "12 is not an IATA carrier code like UA"),
    ("carrier", "", "a value is required"),
    ("dest", "\ufb05x", "'\ufb05x' is not an IATA airport code like JFK"),  # the ligature st: upper() gives "STX"
    ("origin", "\u0131ah", "'\u0131ah' is not an IATA airport code like JFK"),  # dotless i: upper() gives "IAH"
    ("origin", "J3K", "'J3K' is not an IATA airport code like JFK"),
    ("dest", None, "a value is required"),
    ("flight_number", "\u0661\u0665\u0664\u0665", "'\u0661\u0665\u0664\u0665' is not a whole number"),
    ("flight_number", "1e3", "'1e3' is not a whole number"),
    ("flight_number", "1_545", "'1_545' is not a whole number"),
    ("flight_number", "+1545", "'+1545' is not a whole number"),
    ("flight_number", "1545.0", "'1545.0' is not a whole number"),
    ("flight_number", 12.5, "12.5 is not a whole number"),
    ("flight_number", True, "expected a string or number, got JSON boolean"),
    ("flight_number", "0", "'0' is outside 1..9999"),
    ("flight_number", 10000, "10000 is outside 1..9999"),
    ("flight_date", "2013-02-30", "'2013-02-30' is not a date YYYY-MM-DD"),
    ("flight_date", "20131105", "'20131105' is not a date YYYY-MM-DD"),
    ("flight_date", "2013-11-05T10:00", "'2013-11-05T10:00' is not a date YYYY-MM-DD"),
    ("flight_date", "\uff12\uff10\uff11\uff13-11-05", "'\uff12\uff10\uff11\uff13-11-05' is not a date YYYY-MM-DD"),
    ("crs_dep_time", "1e3", "'1e3' is not a time HHMM or HH:MM (0000 to 2400)"),
    ("crs_dep_time", "2460", "'2460' is not a time HHMM or HH:MM (0000 to 2400)"),
    ("crs_dep_time", "24:01", "'24:01' is not a time HHMM or HH:MM (0000 to 2400)"),
    ("crs_dep_time", "7:75", "'7:75' is not a time HHMM or HH:MM (0000 to 2400)"),
    ("crs_dep_time", -5, "-5 is not a time HHMM or HH:MM (0000 to 2400)"),
    ("crs_arr_time", 7.5, "7.5 is not a time HHMM or HH:MM (0000 to 2400)"),
    ("crs_arr_time", "noon", "'noon' is not a time HHMM or HH:MM (0000 to 2400)"),
    ("distance", "inf", "'inf' is not a number"),
    ("distance", "nan", "'nan' is not a number"),
    ("distance", "1_000", "'1_000' is not a number"),
    ("distance", "+5", "'+5' is not a number"),
    ("distance", "-5", "'-5' is outside 1..10000"),
    ("distance", "1e", "'1e' is not a number"),
    ("distance", "1e999", "'1e999' is not a number"),
    ("distance", "0", "'0' is outside 1..10000"),
    ("distance", [1400], "expected a string or number, got JSON array"),
    ("distance", {"miles": 1}, "expected a string or number, got JSON object"),
    ("distance", float("inf"), "inf is not a number"),
    ("origin_delay_rate_prev_day", 1.5, "1.5 is outside 0..1"),
    ("origin_delay_rate_prev_day", "-0.1", "'-0.1' is outside 0..1"),
]


@pytest.mark.parametrize(("name", "value", "typed"), ACCEPTED)
def test_accepted_values_are_typed(name: str, value: object, typed: Value) -> None:
    parsed = FIELDS_BY_NAME[name].parse(value)
    assert parsed == typed
    assert type(parsed) is type(typed)


@pytest.mark.parametrize(("name", "value", "reason"), REFUSED)
def test_refused_values_are_named_as_sent(name: str, value: object, reason: str) -> None:
    with pytest.raises(BadValue) as caught:
        FIELDS_BY_NAME[name].parse(value)
    assert caught.value.reason.startswith(reason)


@pytest.mark.parametrize(("name", "value", "typed"), [case for case in ACCEPTED if case[2] is not None])
def test_canonical_text_parses_back_to_the_same_value(name: str, value: object, typed: Value) -> None:
    spec = FIELDS_BY_NAME[name]
    assert spec.parse(spec.text(typed)) == typed


def test_a_number_beyond_float_range_is_out_of_range() -> None:
    with pytest.raises(BadValue, match=r"^1000000000.*\.\.\. is outside 1\.\.9999$"):
        FIELDS_BY_NAME["flight_number"].parse(10**400)
    with pytest.raises(BadValue, match="is not a number"):
        FIELDS_BY_NAME["distance"].parse(10**400)


def test_every_field_has_a_grammar_and_a_text() -> None:
    for spec in FIELDS:
        assert spec.text(None) == ""


def test_values_are_shown_as_sent_and_cut() -> None:
    assert shown("x" * 100).endswith("...'")
    assert len(shown("x" * 100)) == 40
    assert shown(1400.0) == "1400"
    assert shown("1400.0") == "'1400.0'"
