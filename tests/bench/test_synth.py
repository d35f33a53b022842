"""The synthetic Kaggle-layout generator: exact layout, reproducibility, and what the reader makes of it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bench.synth import HEADER, write_kaggle_csv
from train.data import LABEL_COLUMNS, detect_schema, read_flights
from train.model import delay_labels

ROWS = 5_000
KAGGLE_HEADER = (
    "FL_DATE,OP_CARRIER,OP_CARRIER_FL_NUM,ORIGIN,DEST,CRS_DEP_TIME,DEP_TIME,DEP_DELAY,TAXI_OUT,WHEELS_OFF,"
    "WHEELS_ON,TAXI_IN,CRS_ARR_TIME,ARR_TIME,ARR_DELAY,CANCELLED,CANCELLATION_CODE,DIVERTED,CRS_ELAPSED_TIME,"
    "ACTUAL_ELAPSED_TIME,AIR_TIME,DISTANCE,CARRIER_DELAY,WEATHER_DELAY,NAS_DELAY,SECURITY_DELAY,"
    "LATE_AIRCRAFT_DELAY,Unnamed: 27"
)
CAUSES = ["CARRIER_DELAY", "WEATHER_DELAY", "NAS_DELAY", "SECURITY_DELAY", "LATE_AIRCRAFT_DELAY"]


@pytest.fixture(scope="module")
def synth_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """5,000 synthetic flights of 2018, seed 0."""
    return write_kaggle_csv(tmp_path_factory.mktemp("synth") / "2018.csv", ROWS, seed=0)


@pytest.fixture(scope="module")
def raw(synth_csv: Path) -> pd.DataFrame:
    """The file as pandas reads it with default dtypes."""
    return pd.read_csv(synth_csv)


def test_header_and_every_line_have_the_kaggle_layout(synth_csv: Path) -> None:
    lines = synth_csv.read_text().splitlines()
    assert lines[0] == KAGGLE_HEADER == ",".join(HEADER)
    assert len(lines) == ROWS + 1
    assert all(line.count(",") == 27 and line.endswith(",") for line in lines[1:])


def test_values_are_formatted_like_the_published_files(raw: pd.DataFrame) -> None:
    assert raw.shape == (ROWS, 28)
    assert raw["Unnamed: 27"].isna().all()
    assert raw["FL_DATE"].str.fullmatch(r"2018-\d\d-\d\d").all()
    assert raw["CRS_DEP_TIME"].dtype == np.int64
    assert raw["DEP_TIME"].dtype == np.float64
    assert set(raw["CANCELLED"].unique()) == {0.0, 1.0}
    assert raw["FL_DATE"].is_monotonic_increasing


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path: Path, synth_csv: Path) -> None:
    again = write_kaggle_csv(tmp_path / "again.csv", ROWS, seed=0)
    other = write_kaggle_csv(tmp_path / "other.csv", ROWS, seed=1)
    assert again.read_bytes() == synth_csv.read_bytes()
    assert other.read_bytes() != synth_csv.read_bytes()


def test_gzip_output_reads_as_the_same_records(tmp_path: Path, synth_csv: Path) -> None:
    packed = write_kaggle_csv(tmp_path / "2018.csv.gz", ROWS, seed=0)
    pd.testing.assert_frame_equal(read_flights(packed), read_flights(synth_csv))


def test_reader_detects_kaggle_and_reads_every_row(synth_csv: Path, raw: pd.DataFrame) -> None:
    assert detect_schema(list(raw.columns), str(synth_csv)).name == "kaggle"
    frame = read_flights(synth_csv)
    assert len(frame) == ROWS
    assert set(LABEL_COLUMNS) <= set(frame.columns)
    assert frame["carrier"].nunique() >= 15
    assert frame["origin"].nunique() >= 150


def test_label_and_disruption_rates_are_plausible(synth_csv: Path) -> None:
    frame = read_flights(synth_csv)
    labels, _ = delay_labels(frame, "delay")
    assert 0.15 <= labels.mean() <= 0.26
    assert 0.006 <= frame["cancelled"].mean() <= 0.03
    assert frame["diverted"].mean() <= 0.01


def test_every_route_has_one_distance_the_same_both_ways(raw: pd.DataFrame) -> None:
    per_route = raw.groupby(["ORIGIN", "DEST"])["DISTANCE"].agg(["nunique", "first"])
    assert (per_route["nunique"] == 1).all()
    routes = per_route.reset_index()
    miles = dict(zip(zip(routes["ORIGIN"], routes["DEST"], strict=True), routes["first"], strict=True))
    return_legs = [(there, miles[there[::-1]]) for there in miles if there[::-1] in miles]
    assert return_legs
    assert all(miles[there] == back for there, back in return_legs)


def test_blanks_and_delay_arithmetic_are_consistent(raw: pd.DataFrame) -> None:
    cancelled = raw["CANCELLED"] == 1
    assert raw.loc[cancelled, ["DEP_TIME", "ARR_TIME", "ARR_DELAY"]].isna().all().all()
    assert raw.loc[cancelled, "CANCELLATION_CODE"].isin(["A", "B", "C", "D"]).all()
    assert raw.loc[~cancelled, "CANCELLATION_CODE"].isna().all()
    flown = raw[~cancelled & (raw["DIVERTED"] == 0)]
    elapsed = flown["DEP_DELAY"] + flown["ACTUAL_ELAPSED_TIME"] - flown["CRS_ELAPSED_TIME"]
    assert (elapsed == flown["ARR_DELAY"]).all()
    late = raw["ARR_DELAY"] >= 15
    assert raw.loc[~late, CAUSES].isna().all().all()
    assert (raw.loc[late, CAUSES].sum(axis=1) == raw.loc[late, "ARR_DELAY"]).all()
