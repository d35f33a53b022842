"""DELAYCAST_BAD_RECORDS: `fail` names every refused record (up to a limit) in a 400; `report` answers 200 with
each refused record's line in its place, so that output lines match input lines one for one."""

from __future__ import annotations

import csv
import io
import json

import pytest
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from werkzeug.test import TestResponse

from delaycast.artifact import LoadedModel
from delaycast.errors import ConfigError
from delaycast.fields import FIELD_NAMES
from delaycast.records import RecordError, validate_record
from serve.app import BAD_RECORDS, create_app
from serve.codecs import BULK_CSV_CHARS
from serve.errors import BAD_RECORDS_NAMED
from serve.runtime import COMPILED_MAX_RECORDS, ModelRuntime
from serve.settings import ServerSettings

ROW = "UA,1545,EWR,IAH,2013-11-05,0515,0819,1400"
OTHER = "AA,1141,JFK,MIA,2013-11-06,0540,0850,1089"
BAD_DATE = ROW.replace("2013-11-05", "2013-02-30")
BAD_TIME = OTHER.replace("0540", "2561")
SHORT = "UA,1545,EWR"
# Many records: past the compiled path's limit and (as CSV) past 64 KiB, so that pandas reads and validates.
BULK = max(COMPILED_MAX_RECORDS + 1, BULK_CSV_CHARS // len(ROW) + 1)
CASES = settings(max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module", params=["compiled", "scikit-learn"])
def runtime(request: pytest.FixtureRequest, loaded_model: LoadedModel) -> ModelRuntime:
    """Both scoring paths: the compiled pipeline and scikit-learn's."""
    if request.param == "compiled":
        return ModelRuntime.of_model(loaded_model)
    return ModelRuntime(loaded_model.manifest, estimator=loaded_model.estimator)


def client_of(runtime: ModelRuntime, mode: str) -> FlaskClient:
    settings = ServerSettings.from_env({"DELAYCAST_BAD_RECORDS": mode}, workers=1)
    return create_app(runtime, settings).test_client()


@pytest.fixture(scope="module")
def report(runtime: ModelRuntime) -> FlaskClient:
    return client_of(runtime, "report")


@pytest.fixture(scope="module")
def fail(runtime: ModelRuntime) -> FlaskClient:
    return client_of(runtime, "fail")


def post(client: FlaskClient, body: str, content_type: str = "text/csv", accept: str = "text/csv") -> TestResponse:
    return client.post("/invocations", data=body.encode(), content_type=content_type, headers={"Accept": accept})


def csv_lines(response: TestResponse) -> list[list[str]]:
    return list(csv.reader(io.StringIO(response.get_data(as_text=True))))


def test_the_setting_is_read_once_and_checked() -> None:
    assert ServerSettings.from_env({}).bad_records == "fail"
    assert ServerSettings.from_env({"DELAYCAST_BAD_RECORDS": "Report"}).report_bad_records
    with pytest.raises(ConfigError, match="DELAYCAST_BAD_RECORDS='skip' is not one of fail, report"):
        ServerSettings.from_env({"DELAYCAST_BAD_RECORDS": "skip"})


@pytest.mark.parametrize("copies", [1, BULK], ids=["small", "bulk"])
def test_report_keeps_every_good_row_and_puts_each_refusal_in_its_place(report: FlaskClient, copies: int) -> None:
    lines = [ROW, BAD_DATE, "", OTHER, SHORT, BAD_TIME] + [ROW, OTHER] * copies
    response = post(report, "\n".join(lines) + "\n")
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    assert response.headers[BAD_RECORDS] == "4"
    out = csv_lines(response)
    assert len(out) == len(lines)
    assert out[1] == ["error", "field flight_date: '2013-02-30' is not a date YYYY-MM-DD"]
    assert out[2] == ["error", "a blank line"]
    assert out[4] == ["error", "3 fields; without a header send 6 to 11 in this order: " + ",".join(FIELD_NAMES)]
    assert out[5] == ["error", "field crs_dep_time: '2561' is not a time HHMM or HH:MM (0000 to 2400)"]
    alone = csv_lines(post(report, "\n".join([ROW, OTHER] * (copies + 1)) + "\n"))
    good = [line for line in out if line[0] != "error"]
    assert good == alone


def test_report_answers_json_and_json_lines_with_an_error_object_in_place(report: FlaskClient) -> None:
    records = [{"carrier": "UA"}, json.loads(json.dumps(dict(zip(FIELD_NAMES, ROW.split(","), strict=False))))]
    response = post(report, json.dumps(records), "application/json", "application/json")
    assert response.status_code == 200
    assert response.headers[BAD_RECORDS] == "1"
    predictions = response.get_json()["predictions"]
    assert predictions[0] == {"error": "invalid input", "detail": "field flight_number: a value is required"}
    assert predictions[1]["prediction"] in ("delay", "no delay")
    body = json.dumps(records[1]) + "\n\n{not json\n" + json.dumps(records[1]) + "\n"
    response = post(report, body, "application/jsonlines", "application/jsonlines")
    out = [json.loads(line) for line in response.get_data(as_text=True).splitlines()]
    assert response.headers[BAD_RECORDS] == "2"
    scored, refused = {"prediction", "probability", "threshold"}, {"error", "detail"}
    assert [set(line) for line in out] == [scored, refused, refused, scored]
    assert out[1]["detail"] == "a blank line"
    assert out[2]["detail"].startswith("the line is not valid JSON: ")


def test_report_of_a_clean_body_says_none_were_refused(report: FlaskClient) -> None:
    response = post(report, ROW + "\n")
    assert response.status_code == 200
    assert response.headers[BAD_RECORDS] == "0"


def test_report_still_refuses_a_body_it_cannot_read_at_all(report: FlaskClient) -> None:
    response = post(report, "gate,carrier\nB12,UA\n")
    assert response.status_code == 400
    assert "the CSV header: unknown field 'gate'" in response.get_json()["detail"]


def test_a_body_of_refused_records_only_is_reported(report: FlaskClient) -> None:
    out = csv_lines(post(report, "\n\nx\n"))
    assert [line[0] for line in out] == ["error"] * 3


@pytest.mark.parametrize("copies", [1, BULK], ids=["small", "bulk"])
def test_fail_names_every_refused_record_in_input_order(fail: FlaskClient, copies: int) -> None:
    lines = [ROW] * copies + [BAD_TIME, ROW, "", BAD_DATE]
    response = post(fail, "\n".join(lines) + "\n")
    assert response.status_code == 400
    assert BAD_RECORDS not in response.headers
    detail = response.get_json()["detail"]
    assert detail.startswith(f"record {copies}, field crs_dep_time: '2561'")
    assert f"; record {copies + 2}: a blank line; record {copies + 3}, field flight_date: '2013-02-30'" in detail


def test_fail_names_the_first_records_up_to_its_limit(fail: FlaskClient) -> None:
    response = post(fail, "\n".join([BAD_DATE] * 50) + "\n")
    detail = response.get_json()["detail"]
    assert detail.count("record ") == BAD_RECORDS_NAMED
    assert detail.endswith(f"; and {50 - BAD_RECORDS_NAMED} more (50 records refused)")


def test_one_refused_record_reads_as_before(fail: FlaskClient) -> None:
    detail = post(fail, BAD_DATE + "\n").get_json()["detail"]
    assert detail == "record 0, field flight_date: '2013-02-30' is not a date YYYY-MM-DD"


def test_a_final_line_end_is_no_record_but_a_blank_line_is(report: FlaskClient) -> None:
    assert len(csv_lines(post(report, ROW + "\n"))) == 1
    assert len(csv_lines(post(report, ROW + "\r\n"))) == 1
    assert len(csv_lines(post(report, ROW))) == 1
    assert len(csv_lines(post(report, ROW + "\n\n"))) == 2
    assert len(csv_lines(post(report, "\r\n" + ROW + "\r\n\r\n" + ROW))) == 4


def reference_verdicts(lines: list[str]) -> list[str | None]:
    """Each line's refusal as the reference validator words it (None: accepted), header-less CSV."""
    verdicts: list[str | None] = []
    for index, line in enumerate(lines):
        cells = line.split(",") if line else []
        if not cells:
            verdicts.append("a blank line")
        elif not 6 <= len(cells) <= len(FIELD_NAMES):
            verdicts.append("width")
        else:
            try:
                validate_record(cells + [None] * (len(FIELD_NAMES) - len(cells)), index)
                verdicts.append(None)
            except RecordError as error:
                verdicts.append(f"field {error.field}: {error.reason}")
    return verdicts


LINES = st.lists(st.sampled_from([ROW, OTHER, BAD_DATE, BAD_TIME, SHORT, "", ROW + ",0.5", ROW + ",x"]), max_size=30)


@CASES
@given(lines=LINES.filter(bool), bulk=st.booleans())
def test_every_line_in_is_one_line_out_and_refusals_match_the_reference(
    loaded_model: LoadedModel, lines: list[str], bulk: bool
) -> None:
    body = lines * (BULK // len(lines) + 1) if bulk else lines
    client = client_of(ModelRuntime.of_model(loaded_model), "report")
    response = post(client, "\n".join(body) + "\n")
    assert response.status_code == 200
    out = csv_lines(response)
    assert len(out) == len(body)
    expected = reference_verdicts(body)
    assert response.headers[BAD_RECORDS] == str(sum(v is not None for v in expected))
    for verdict, line in zip(expected, out, strict=True):
        if verdict is None:
            assert line[0] in ("delay", "no delay")
        elif verdict == "width":
            assert line[0] == "error"
            assert " fields; without a header" in line[1]
        else:
            assert line == ["error", verdict]
