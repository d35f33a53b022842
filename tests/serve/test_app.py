"""/ping, /invocations and /execution-parameters: every content type, Accept and error status."""

from __future__ import annotations

import json
import logging
import multiprocessing
import pickle

import pytest
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from delaycast.fields import FIELD_NAMES
from serve.app import create_app, next_request_id
from serve.runtime import ModelRuntime
from serve.settings import ServerSettings

ROW = "UA,1545,EWR,IAH,2013-11-05,0515,0819,1400"
RECORD = {
    "carrier": "UA",
    "flight_number": 1545,
    "origin": "EWR",
    "dest": "IAH",
    "flight_date": "2013-11-05",
    "crs_dep_time": 515,
}
KAGGLE_CUT = (
    "FL_DATE,OP_CARRIER,OP_CARRIER_FL_NUM,ORIGIN,DEST,CRS_DEP_TIME,DEP_TIME,DEP_DELAY,CRS_ARR_TIME,DISTANCE\n"
    "2013-11-05,UA,1545,EWR,IAH,515,517.0,2.0,819,1400.0\n"
    "2013-11-05,AA,1141,JFK,MIA,540,542.0,2.0,850,1089.0\n"
)


def post(client: FlaskClient, body: bytes | str, content_type: str, accept: str | None = None) -> TestResponse:
    headers = {"Accept": accept} if accept else {}
    return client.post("/invocations", data=body, content_type=content_type, headers=headers)


def assert_error(response: TestResponse, status: int, detail: str) -> None:
    assert response.status_code == status
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert set(body) == {"error", "detail"}
    assert detail in body["detail"]
    assert "Traceback" not in response.get_data(as_text=True)


def test_ping_is_empty_200(client: FlaskClient) -> None:
    response = client.get("/ping")
    assert response.status_code == 200
    assert response.data == b""


def test_execution_parameters_fit_the_batch_budget(client: FlaskClient) -> None:
    assert client.get("/execution-parameters").get_json() == {
        "MaxConcurrentTransforms": 2,
        "BatchStrategy": "MULTI_RECORD",
        "MaxPayloadInMB": 1,
    }


def test_csv_without_header_in_manifest_order(client: FlaskClient) -> None:
    response = post(client, ROW + "\n", "text/csv")
    assert response.status_code == 200
    [prediction] = response.get_json()["predictions"]
    assert prediction["prediction"] in ("delay", "no delay")
    assert 0 < prediction["probability"] < 1
    assert (prediction["probability"] >= prediction["threshold"]) == (prediction["prediction"] == "delay")
    assert response.headers["X-Delaycast-Model-Version"] == response.get_json()["model_version"]


def test_csv_with_charset_parameter_and_crlf(client: FlaskClient) -> None:
    response = post(client, f"{ROW}\r\n{ROW}\r\n", "text/csv; charset=utf-8")
    assert len(response.get_json()["predictions"]) == 2


def test_csv_header_in_any_order_with_our_names(client: FlaskClient) -> None:
    names = list(FIELD_NAMES[:6])[::-1]
    values = dict(zip(FIELD_NAMES[:6], ROW.split(",")[:6], strict=True))
    body = ",".join(names) + "\n" + ",".join(values[n] for n in names) + "\n"
    reversed_answer = post(client, body, "text/csv").get_json()["predictions"][0]["probability"]
    in_order = post(client, ",".join(ROW.split(",")[:6]) + "\n", "text/csv").get_json()["predictions"][0]
    assert reversed_answer == in_order["probability"]


def test_rows_cut_from_a_kaggle_file_are_accepted_by_their_field_columns(client: FlaskClient) -> None:
    response = post(client, KAGGLE_CUT, "text/csv")
    assert response.status_code == 400
    assert response.get_json()["detail"].startswith("the CSV header: unknown field 'DEP_TIME'; the fields are")
    kept = [0, 1, 2, 3, 4, 5, 8, 9]
    fields_only = "".join(",".join(line.split(",")[i] for i in kept) + "\n" for line in KAGGLE_CUT.splitlines())
    response = post(client, fields_only, "text/csv")
    assert response.status_code == 200
    assert len(response.get_json()["predictions"]) == 2


def test_bom_and_quoted_fields(client: FlaskClient) -> None:
    body = (
        '\ufeffcarrier,flight_number,origin,dest,flight_date,crs_dep_time\n"UA","1545","EWR","IAH","2013-11-05","515"\n'
    )
    assert post(client, body.encode(), "text/csv").status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        json.dumps(RECORD),
        json.dumps([RECORD, RECORD]),
        json.dumps({"instances": [RECORD]}),
        json.dumps({"instances": [ROW.split(",")]}),
    ],
)
def test_json_shapes(client: FlaskClient, body: str) -> None:
    response = post(client, body, "application/json")
    assert response.status_code == 200
    assert len(response.get_json()["predictions"]) == body.count("1545")


def test_jsonlines_in_and_out(client: FlaskClient) -> None:
    body = json.dumps(RECORD) + "\n" + json.dumps(RECORD) + "\n"
    response = post(client, body, "application/jsonlines", accept="application/jsonlines")
    assert response.mimetype == "application/jsonlines"
    lines = response.get_data(as_text=True).splitlines()
    assert [json.loads(line)["prediction"] in ("delay", "no delay") for line in lines] == [True, True]


def test_csv_answer(client: FlaskClient) -> None:
    response = post(client, ROW, "text/csv", accept="text/csv")
    assert response.mimetype == "text/csv"
    label, probability, threshold = response.get_data(as_text=True).strip().split(",")
    assert label in ("delay", "no delay")
    assert 0 < float(probability) < 1
    assert 0 < float(threshold) < 1


def test_accept_with_quality_values_picks_the_best(client: FlaskClient) -> None:
    response = post(client, ROW, "text/csv", accept="application/xml;q=1, text/csv;q=0.9, application/json;q=0.1")
    assert response.mimetype == "text/csv"


def test_custom_attributes_are_echoed(client: FlaskClient) -> None:
    response = client.post(
        "/invocations",
        data=ROW,
        content_type="text/csv",
        headers={"X-Amzn-SageMaker-Custom-Attributes": "trace=abc", "X-Unknown": "ignored"},
    )
    assert response.headers["X-Amzn-SageMaker-Custom-Attributes"] == "trace=abc"


@pytest.mark.parametrize(
    ("body", "content_type", "detail"),
    [
        ("", "text/csv", "no CSV rows"),
        ("carrier,flight_number,origin,dest,flight_date,crs_dep_time\n", "text/csv", "header but no data rows"),
        (
            "carrier,flight_number,origin,dest,flight_date,crs_dep_time\nUA,1,EWR\n",
            "text/csv",
            "record 0: 3 fields, but the header has 6",
        ),
        (
            "carrier,origin,dest,flight_date,crs_dep_time\nUA,EWR,IAH,2013-11-05,515\n",
            "text/csv",
            "record 0, field flight_number: a value is required",
        ),
        ("UA,1545,EWR\n", "text/csv", "record 0: 3 fields; without a header"),
        (ROW + "\n" + ROW.replace("IAH", "IA1"), "text/csv", "record 1, field dest: 'IA1' is not an IATA airport code"),
        (ROW.replace("0515", "2575"), "text/csv", "record 0, field crs_dep_time: '2575' is not a time"),
        (ROW.replace("2013-11-05", "2013-11-31"), "text/csv", "record 0, field flight_date"),
        (ROW.replace("1400", "NaN"), "text/csv", "record 0, field distance: 'NaN' is not a number"),
        (ROW.replace("1400", "1e999"), "text/csv", "record 0, field distance: '1e999' is not a number"),
        ('{"carrier": ', "application/json", "not valid JSON"),
        ("[" * 100_000 + "]" * 100_000, "application/json", "nested too deeply"),
        (json.dumps([1, 2]), "application/json", "record 0: expected a flight object, got JSON number"),
        (
            json.dumps({**RECORD, "carrier": {"code": "UA"}}),
            "application/json",
            "record 0, field carrier: expected a string or number, got JSON object",
        ),
        (json.dumps([]), "application/json", "no records to score"),
        (b"\xff\xfe\x00bad", "text/csv", "not valid utf-8 text"),
    ],
)
def test_bad_input_is_a_400_naming_the_problem(
    client: FlaskClient, body: str | bytes, content_type: str, detail: str
) -> None:
    assert_error(post(client, body, content_type), 400, detail)


def test_pickle_is_a_415(client: FlaskClient) -> None:
    assert_error(post(client, pickle.dumps(RECORD), "application/python-pickle"), 415, "is not supported")


def test_missing_content_type_is_a_415(client: FlaskClient) -> None:
    response = client.post("/invocations", data=ROW)
    assert_error(response, 415, "'(none)' is not supported")


def test_unsupported_accept_is_a_406(client: FlaskClient) -> None:
    assert_error(post(client, ROW, "text/csv", accept="application/xml"), 406, "accept one of")


def rows_of_size(size: int) -> bytes:
    """ROW lines of exactly `size` bytes: the last one's distance written with leading zeros."""
    count = size // (len(ROW) + 1)
    last = ROW.replace(",1400", "," + "0" * (size - count * (len(ROW) + 1)) + "1400")
    body = ((ROW + "\n") * (count - 1) + last + "\n").encode()
    assert len(body) == size
    return body


def test_body_over_the_limit_is_a_413_with_a_json_body(client: FlaskClient) -> None:
    limit = 1024 * 1024
    assert post(client, rows_of_size(limit), "text/csv").status_code == 200
    assert_error(post(client, b"\n" * (limit + 1), "text/csv"), 413, "larger than 1048576 bytes")


def test_body_shorter_than_its_content_length_is_a_400(client: FlaskClient) -> None:
    response = client.post(
        "/invocations", data=ROW, content_type="text/csv", environ_overrides={"CONTENT_LENGTH": str(len(ROW) + 10)}
    )
    assert_error(response, 400, "cut short")


def test_only_content_length_bytes_of_the_input_are_read(client: FlaskClient) -> None:
    response = client.post(
        "/invocations",
        data=f"{ROW}\n{ROW}\n",
        content_type="text/csv",
        environ_overrides={"CONTENT_LENGTH": str(len(ROW))},
    )
    assert response.status_code == 200
    assert len(response.get_json()["predictions"]) == 1


def test_unknown_path_and_method_are_json(client: FlaskClient) -> None:
    assert_error(client.get("/nope"), 404, "")
    assert_error(client.get("/invocations"), 405, "")


def bulk_body(rows: int, header: bool = False) -> str:
    """Enough rows to cross BULK_CSV_CHARS, so that pandas' reader and scikit-learn's path are used."""
    head = "carrier,flight_number,origin,dest,flight_date,crs_dep_time,crs_arr_time,distance\n" if header else ""
    return head + (ROW + "\n") * rows


def test_large_and_small_requests_agree(client: FlaskClient) -> None:
    small = post(client, ROW, "text/csv").get_json()["predictions"][0]
    large = post(client, bulk_body(3000, header=True), "text/csv").get_json()["predictions"]
    assert len(large) == 3000
    assert abs(large[-1]["probability"] - small["probability"]) <= 1e-9
    assert large[-1]["prediction"] == small["prediction"]


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (bulk_body(3000, header=True) + "UA,1,EWR\n", "record 3000: 3 fields, but the header has 8"),
        (
            bulk_body(3000) + ROW.replace("EWR", "E1") + "\n",
            "record 3000, field origin: 'E1' is not an IATA airport code",
        ),
        (
            bulk_body(3000) + ROW.replace("1545", "one") + "\n",
            "record 3000, field flight_number: 'one' is not a whole number",
        ),
        (bulk_body(3000) + "UA,1545\n", "record 3000: 2 fields; without a header"),
        (bulk_body(3000) + " \t\n" + ROW + "\n", "record 3000: 1 fields; without a header"),
        (bulk_body(0, header=True) + (ROW + ",0.5\n") * 3000, "record 0: 9 fields, but the header has 8"),
    ],
)
def test_large_requests_name_the_bad_record(client: FlaskClient, body: str, detail: str) -> None:
    assert_error(post(client, body, "text/csv"), 400, detail)


@pytest.mark.parametrize("access_log", [False, True])
def test_failed_requests_are_always_logged_successful_ones_on_request(
    runtime: ModelRuntime, caplog: pytest.LogCaptureFixture, access_log: bool
) -> None:
    client = create_app(runtime, ServerSettings(access_log=access_log)).test_client()
    with caplog.at_level(logging.INFO, logger="delaycast.serve"):
        post(client, ROW, "text/csv")
        post(client, ROW.replace("EWR", "E1"), "text/csv")
    statuses = [getattr(record, "status", None) for record in caplog.records if record.getMessage() == "request"]
    assert statuses == ([200, 400] if access_log else [400])


def test_request_ids_are_unique_within_a_worker_and_across_forked_workers() -> None:
    with multiprocessing.get_context("fork").Pool(2) as workers:
        forked = workers.starmap(next_request_id, [()] * 4)
    here = [next_request_id() for _ in range(4)]
    assert len(set(here + forked)) == 8
    assert {i[:16] for i in forked}.isdisjoint({i[:16] for i in here})  # each process draws its own prefix
    assert all(len(i) == 32 and int(i, 16) >= 0 for i in here + forked)


@pytest.mark.parametrize(
    ("accept", "media_type"), [(None, "text/csv"), ("*/*", "text/csv"), ("application/json", "application/json")]
)
def test_sagemaker_default_invocations_accept_answers_requests_without_a_choice(
    runtime: ModelRuntime, accept: str | None, media_type: str
) -> None:
    client = create_app(runtime, ServerSettings(default_accept="text/csv")).test_client()
    response = post(client, ROW, "text/csv", accept)
    assert response.status_code == 200
    assert response.mimetype == media_type
