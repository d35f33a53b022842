"""Property tests of the codecs, without HTTP or a model.

Any bytes, text or JSON either decode or are refused with InvalidInput / UnsupportedMediaType, never another
exception; what a CSV or JSON library writes decodes back to the same values, on both CSV readers; answers
parse back to the same numbers.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from delaycast.errors import InvalidInput
from delaycast.fields import FIELD_NAMES, REQUIRED_FIELDS
from delaycast.records import canonical_name, validate_record
from delaycast.schema import coerce_frame
from serve.codecs import (
    BLANK_LINE,
    BULK_CSV_CHARS,
    CODECS,
    PLAIN_RECORD_BYTES,
    Codec,
    CsvCodec,
    JsonCodec,
    JsonLinesCodec,
    is_header,
    request_codec,
    response_codec,
    table_from_rows,
)
from serve.errors import NotAcceptable, UnsupportedMediaType
from serve.payloads import Predictions, RawTable

PROPERTIES = settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
CHARSETS = st.sampled_from(
    (
        *("", "utf-8", "UTF8", "utf_8", "latin-1", "utf-16", "utf-32", "ascii", "cp1252", "utf-7", "unicode_escape"),
        *("idna", "punycode", "undefined", "rot13", "base64", "zlib", "hex", "klingon", "utf\x00"),
    )
) | st.text(max_size=12)
DECODERS = pytest.mark.parametrize("codec", list(CODECS.values()), ids=list(CODECS))
JSON_SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)


def json_containers(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Arrays and objects of `inner`."""
    return st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)


JSON_VALUES = st.recursive(JSON_SCALARS, json_containers, max_leaves=20)
# Characters str.splitlines() ends lines at, besides \r and \n: they may sit inside a field or a JSON string.
LINE_BREAKS = st.sampled_from("\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")
TEXT = st.text(st.characters(codec="utf-8") | LINE_BREAKS, max_size=12)
# What a record holds after JSON decoding: a scalar (floats finite: NaN would not compare equal).
FIELD_VALUES = st.none() | TEXT | st.integers(-(2**63), 2**63) | st.floats(allow_nan=False)
# Keys that name no field ("instances" is no field either, but an object holding it is the wrapped form).
UNKNOWN_KEYS = st.text(max_size=10).filter(lambda key: canonical_name(key) is None and key != "instances")
RECORDS = st.fixed_dictionaries(
    {name: FIELD_VALUES for name in REQUIRED_FIELDS}, optional={name: FIELD_VALUES for name in FIELD_NAMES[6:]}
)
CELLS = TEXT
RECORD = {
    "carrier": "UA",
    "flight_number": 1545,
    "origin": "EWR",
    "dest": "IAH",
    "flight_date": "2013-11-05",
    "crs_dep_time": 515,
}
# Cells the csv module writes without quotes, so that a long body goes to pandas' reader.
PLAIN_CELLS = st.text(st.characters(codec="utf-8", exclude_characters='",\r\n') | LINE_BREAKS, max_size=12)


def decode_or_refuse(codec: Codec, body: bytes, charset: str) -> RawTable | None:
    """The table, or None when the codec refused the body the way a client should hear about (400 or 415)."""
    try:
        table = codec.decode(body, charset)
    except (InvalidInput, UnsupportedMediaType) as error:
        refusal = error
    else:
        assert len(table) + table.refused.count >= 1
        assert len(table.refused.problems) == len(table) + table.refused.count  # every record, read or refused
        return table
    assert int(refusal.status) in (400, 415)
    assert refusal.detail
    return None


def records_of(table: RawTable) -> list[list[Any]]:
    """Every record of a table in FIELD_NAMES order, as plain Python values."""
    return [
        [value.item() if isinstance(value, np.generic) else value for value in table.record(i)]
        for i in range(len(table))
    ]


def written_csv(rows: list[list[str]], line_end: str) -> str:
    """Rows as the csv module writes them."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator=line_end).writerows(rows)
    return buffer.getvalue()


# --- anything in: a table or a clean refusal ---------------------------------------------------------------------


@DECODERS
@pytest.mark.filterwarnings("ignore:invalid escape sequence:DeprecationWarning")  # charset=unicode_escape
@PROPERTIES
@given(body=st.binary(max_size=2000), charset=CHARSETS)
def test_any_bytes_decode_or_are_refused(codec: Codec, body: bytes, charset: str) -> None:
    decode_or_refuse(codec, body, charset)


@DECODERS
@PROPERTIES
@given(text=st.text(max_size=500))
def test_any_text_decodes_or_is_refused(codec: Codec, text: str) -> None:
    decode_or_refuse(codec, text.encode(), "utf-8")


@PROPERTIES
@given(document=JSON_VALUES, ascii_only=st.booleans())
def test_any_json_document_decodes_or_is_refused(document: Any, ascii_only: bool) -> None:
    decode_or_refuse(JsonCodec(), json.dumps(document, ensure_ascii=ascii_only).encode(), "")


@PROPERTIES
@given(lines=st.lists(JSON_VALUES, max_size=5), ascii_only=st.booleans())
def test_any_json_lines_decode_or_are_refused(lines: list[Any], ascii_only: bool) -> None:
    body = "".join(json.dumps(line, ensure_ascii=ascii_only) + "\n" for line in lines).encode()
    decode_or_refuse(JsonLinesCodec(), body, "")


@PROPERTIES
@given(header=st.text(max_size=60))
def test_any_content_type_gives_a_codec_or_a_415(header: str) -> None:
    try:
        codec, _ = request_codec(header)
    except UnsupportedMediaType as error:
        detail = error.detail
    else:
        assert codec in CODECS.values()
        return
    assert "is not supported" in detail


@PROPERTIES
@given(accepted=st.lists(st.tuples(st.text(max_size=20), st.floats(0, 1)), max_size=4))
def test_any_accept_gives_a_codec_or_a_406(accepted: list[tuple[str, float]]) -> None:
    header = ", ".join(f"{kind};q={quality:.3f}" for kind, quality in accepted)
    try:
        codec = response_codec(header, CODECS["text/csv"])
    except NotAcceptable as error:
        detail = error.detail
    else:
        assert codec in CODECS.values()
        return
    assert "accept one of" in detail


@pytest.mark.parametrize(
    ("accept", "media_type"),
    [
        (None, "text/csv"),
        ("", "text/csv"),
        ("*/*", "text/csv"),
        ("application/*", "application/json"),
        ("text/*", "text/csv"),
        ("application/json;q=0.5, text/csv;q=0.9", "text/csv"),
        ("Application/X-NDJSON", "application/jsonlines"),
        ("application/jsonlines, */*;q=0.1", "application/jsonlines"),
    ],
)
def test_accept_is_ranked_by_werkzeug_and_none_gets_the_default(accept: str | None, media_type: str) -> None:
    assert response_codec(accept, CODECS["text/csv"]) is CODECS[media_type]


@pytest.mark.parametrize(
    ("content_type", "media_type", "charset"),
    [
        ("text/csv", "text/csv", ""),
        ('Text/CSV; Charset="latin-1"', "text/csv", "latin-1"),
        ("application/x-ndjson", "application/jsonlines", ""),
    ],
)
def test_content_type_is_parsed_by_werkzeug(content_type: str, media_type: str, charset: str) -> None:
    assert request_codec(content_type) == (CODECS[media_type], charset)


# --- round trips ---------------------------------------------------------------------------------------------------


@PROPERTIES
@given(rows=st.lists(st.lists(CELLS, min_size=6, max_size=9), min_size=1, max_size=8))
def test_csv_without_a_header_decodes_to_what_was_written(rows: list[list[str]]) -> None:
    assume(not is_header(rows[0]))
    assume(not rows[0][0].startswith("\ufeff"))  # a leading byte-order mark is dropped, by design
    width = max(len(row) for row in rows)
    # RFC 4180 line ends: with "\n" alone, the csv module leaves a "\r" inside a field unquoted.
    table = CsvCodec().decode(written_csv(rows, "\r\n").encode(), "")
    padding = [None] * (len(FIELD_NAMES) - width)
    assert records_of(table) == [row + [""] * (width - len(row)) + padding for row in rows]


@PROPERTIES
@given(
    rows=st.lists(st.lists(PLAIN_CELLS, min_size=6, max_size=9), min_size=1, max_size=8),
    line_end=st.sampled_from(("\n", "\r\n", "\r")),
)
def test_small_csv_without_quotes_decodes_to_what_was_written(rows: list[list[str]], line_end: str) -> None:
    text = written_csv(rows, line_end)
    assume('"' not in text and not is_header(rows[0]) and not rows[0][0].startswith("\ufeff"))
    width = max(len(row) for row in rows)
    table = CsvCodec().decode(text.encode(), "")
    padding = [None] * (len(FIELD_NAMES) - width)
    assert records_of(table) == [row + [""] * (width - len(row)) + padding for row in rows]


@settings(PROPERTIES, max_examples=40)  # 64 KiB each
@given(
    row=st.lists(PLAIN_CELLS, min_size=6, max_size=9),
    extra=st.lists(PLAIN_CELLS, min_size=6, max_size=9),
    line_end=st.sampled_from(("\n", "\r\n", "\r")),
)
def test_csv_past_64_kib_decodes_alike_with_pandas_reader(row: list[str], extra: list[str], line_end: str) -> None:
    assume(not is_header(row) and not row[0].startswith("\ufeff"))
    extra = extra[: len(row)] + [""] * (len(row) - len(extra))
    rows = [row, extra] * (BULK_CSV_CHARS // len(written_csv([row, extra], line_end)) + 1)
    text = written_csv(rows, line_end)
    assume('"' not in text)  # the csv module quotes a lone empty field and a few others
    assert len(text) >= BULK_CSV_CHARS
    table = CsvCodec().decode(text.encode(), "")
    assert records_of(table) == [r + [None] * (len(FIELD_NAMES) - len(row)) for r in rows]


# Per field, cells that pandas' C reader types plainly, and cells it must leave to the text path.
BULK_CELLS = {
    "carrier": (["UA", "9E", "B6"], ["09", "ua", "", "U A"]),
    "flight_number": (["1545", "0515", "1e3", "+5", "12.5", "-3", "inf"], ["nan", "", "0x1A", "1_0", "NaN", "5d"]),
    "origin": (["EWR", "JFK"], ["12", "ewr", ""]),
    "dest": (["IAH", "LAX"], ["IA", ""]),
    "flight_date": (["2013-11-05", "2013-02-30", "20131105", "2013-11-05T10:00"], ["", "5"]),
    "crs_dep_time": (["0515", "2400", "2460", "515.0", "1e400"], ["", "nan"]),
    "crs_arr_time": (["0819", "0"], ["", "-inf", "N/A"]),
    "distance": (["1400", "0.5", "1e4"], ["", "nan"]),
}


def bulk_column(name: str) -> st.SearchStrategy[list[str]]:
    """Three cells of one field: all plain (typed by pandas) or some not."""
    plain, other = BULK_CELLS[name]
    return st.lists(st.sampled_from(plain), min_size=3, max_size=3) | st.lists(
        st.sampled_from(plain + other), min_size=3, max_size=3
    )


def validated(table: RawTable) -> list[list[Any]] | str:
    """The table's records after validation, or the validation error."""
    try:
        frame = coerce_frame(table.frame())
    except InvalidInput as error:
        return str(error)
    return frame.astype(object).where(frame.notna(), None).to_numpy().tolist()


@settings(PROPERTIES, max_examples=150)  # 64 KiB each
@given(columns=st.fixed_dictionaries({name: bulk_column(name) for name in BULK_CELLS}), header=st.booleans())
def test_bulk_csv_validates_as_the_same_texts_do(columns: dict[str, list[str]], header: bool) -> None:
    names = list(BULK_CELLS)  # the field order, as a body without a header must have it
    rows = [list(cells) for cells in zip(*(columns[name] for name in names), strict=True)]
    rows = rows * (BULK_CSV_CHARS // len(written_csv(rows, "\n")) + 1)
    text = written_csv([names] * header + rows, "\n")
    assume('"' not in text and " " not in text)
    bulk = CsvCodec().decode(text.encode(), "")
    assert validated(bulk) == validated(table_from_rows(names, rows, BLANK_LINE))


@PROPERTIES
@given(names=st.permutations(FIELD_NAMES).map(list), width=st.integers(6, 9), data=st.data())
def test_csv_with_a_header_decodes_each_column_to_its_field(names: list[str], width: int, data: st.DataObject) -> None:
    header = [name for name in names if name in REQUIRED_FIELDS or names.index(name) < width]
    rows = data.draw(st.lists(st.lists(CELLS, min_size=len(header), max_size=len(header)), min_size=1, max_size=5))
    table = CsvCodec().decode(written_csv([header, *rows], "\r\n").encode(), "utf-8")
    expected = [[row[header.index(name)] if name in header else None for name in FIELD_NAMES] for row in rows]
    assert records_of(table) == expected


@PROPERTIES
@given(
    header=st.permutations(FIELD_NAMES).map(list),
    unknown=UNKNOWN_KEYS.filter(lambda key: key.strip() and not set(key) & set('",\r\n') and key.isprintable()),
    position=st.integers(0, 9),
)
def test_a_header_column_that_names_no_field_is_refused(header: list[str], unknown: str, position: int) -> None:
    header.insert(position, unknown)
    body = written_csv([header, ["x"] * len(header)], "\n").encode()
    with pytest.raises(InvalidInput, match=r"^the CSV header: unknown field"):
        CsvCodec().decode(body, "")


@PROPERTIES
@given(
    records=st.lists(RECORDS, min_size=1, max_size=5),
    shape=st.sampled_from(("object", "list", "instances")),
    ascii_only=st.booleans(),
)
def test_json_records_decode_to_what_was_written(records: list[dict[str, Any]], shape: str, ascii_only: bool) -> None:
    document = {"object": records[0], "list": records, "instances": {"instances": records}}[shape]
    table = JsonCodec().decode(json.dumps(document, ensure_ascii=ascii_only).encode(), "")
    expected = records[:1] if shape == "object" else records
    assert records_of(table) == [[record.get(name) for name in FIELD_NAMES] for record in expected]


@PROPERTIES
@given(records=st.lists(RECORDS, min_size=1, max_size=5), unknown=UNKNOWN_KEYS, data=st.data())
def test_the_first_json_record_with_a_key_that_names_no_field_is_refused(
    records: list[dict[str, Any]], unknown: str, data: st.DataObject
) -> None:
    index = data.draw(st.integers(0, len(records) - 1))
    records[index] = {**records[index], unknown: 1}
    refused = JsonCodec().decode(json.dumps(records).encode(), "").refused
    assert str(refused.errors(1)[0]).startswith(f"record {index}: unknown field")


@PROPERTIES
@given(rows=st.lists(st.lists(FIELD_VALUES, min_size=6, max_size=9), min_size=1, max_size=5))
def test_json_rows_decode_by_position(rows: list[list[Any]]) -> None:
    width = max(len(row) for row in rows)
    table = JsonCodec().decode(json.dumps({"instances": rows}).encode(), "")
    padding = [None] * (len(FIELD_NAMES) - width)
    assert records_of(table) == [row + [""] * (width - len(row)) + padding for row in rows]


@PROPERTIES
@given(
    records=st.lists(RECORDS, min_size=1, max_size=5),
    line_end=st.sampled_from(("\n", "\r\n")),
    ascii_only=st.booleans(),
)
def test_json_lines_decode_to_what_was_written(records: list[dict[str, Any]], line_end: str, ascii_only: bool) -> None:
    body = "".join(json.dumps(record, ensure_ascii=ascii_only) + line_end for record in records)
    table = JsonLinesCodec().decode(body.encode(), "")
    assert records_of(table) == [[record.get(name) for name in FIELD_NAMES] for record in records]


@PROPERTIES
@given(digits=st.integers(309, 4300), negative=st.booleans())
def test_json_integers_beyond_float_range_decode_as_sent(digits: int, negative: bool) -> None:
    number = ("-" if negative else "") + "9" * digits
    body = json.dumps({**RECORD, "distance": 0}).replace('"distance": 0', f'"distance": {number}')
    table = JsonCodec().decode(body.encode(), "")
    assert records_of(table)[0][FIELD_NAMES.index("distance")] == int(number)


@PROPERTIES
@given(
    probabilities=st.lists(st.floats(0, 1), min_size=1, max_size=20),
    threshold=st.floats(0, 1),
    version=st.text(max_size=30),
)
def test_answers_parse_back_to_the_same_numbers(probabilities: list[float], threshold: float, version: str) -> None:
    predictions = Predictions(np.array(probabilities), threshold, version)
    labels = ["delay" if p >= threshold else "no delay" for p in probabilities]
    answer = json.loads(JsonCodec().encode(predictions))
    assert answer["model_version"] == version
    assert answer["predictions"] == [
        {"prediction": label, "probability": p, "threshold": threshold}
        for label, p in zip(labels, probabilities, strict=True)
    ]
    lines = [json.loads(line) for line in JsonLinesCodec().encode(predictions).decode().splitlines()]
    assert lines == answer["predictions"]
    rows = list(csv.reader(io.StringIO(CsvCodec().encode(predictions).decode())))
    assert [row[0] for row in rows] == labels
    assert [(float(row[1]), float(row[2])) for row in rows] == [(p, threshold) for p in probabilities]


@PROPERTIES
@given(probabilities=st.lists(st.floats(0, 1), min_size=2, max_size=20), threshold=st.floats(0, 1))
def test_a_record_answered_alone_reads_as_in_a_batch(probabilities: list[float], threshold: float) -> None:
    batch = Predictions(np.array(probabilities), threshold, "v")
    alone = [Predictions(np.array([p]), threshold, "v") for p in probabilities]
    for codec in (CsvCodec(), JsonLinesCodec()):
        assert b"".join(codec.encode(one) for one in alone) == codec.encode(batch)


# Cells of each field, in FIELD_NAMES order: plain ones, and near misses that must take the general path.
PLAIN_RECORD_CELLS = (
    (["UA", "9E", "B6"], ["ua", "U", "UAL", " UA", "", '"UA"']),
    (["1545", "1", "9999", "0015", "000001545"], ["0", "10000", "12.5", "1e3", "-3", "", " 7"]),
    (["EWR", "JFK"], ["jfk", "JF", "", "12A"]),
    (["IAH", "LAX"], ["LAXX", ""]),
    (["2013-11-05", "2024-02-29"], ["2013-02-30", "2013-1-05", "20131105", "2013-11-05T10:00", ""]),
    (["0515", "515", "0", "2400", "2359"], ["2401", "2460", "0060", "7:15", "-5", "", "515.0"]),
    (["0819", "", "2400", "99"], ["2500", "0960", "1e3"]),
    (["1400", "1", "10000", "0.5", ""], ["10000.5", "1400.", "1e4", "inf", ".5"]),
    (["0.5", "0", "1", "1.0", "", "0.123456789012345678"], ["1.5", "nan", "1.01"]),
)


@st.composite
def plain_record_cells(draw: st.DrawFn) -> list[str]:
    """A plain cell for every field, then near misses in at most two of them."""
    cells = [draw(st.sampled_from(plain)) for plain, _ in PLAIN_RECORD_CELLS]
    for field in draw(st.lists(st.integers(0, len(cells) - 1), max_size=2)):
        cells[field] = draw(st.sampled_from(PLAIN_RECORD_CELLS[field][1]))
    return cells


def general_record(codec: Codec, body: bytes) -> tuple[Any, ...] | None:
    """What `decode` and validation make of a body of one record; None when they refuse it."""
    try:
        table = codec.decode(body, "")
        return validate_record(table.record(0), 0) if len(table) == 1 else None
    except InvalidInput:
        return None


@PROPERTIES
@given(
    cells=plain_record_cells(),
    width=st.integers(5, 10),
    line_end=st.sampled_from(("", "\n", "\r\n", "\r", "\n\n", "\ufeff")),
)
def test_a_plain_csv_record_reads_as_the_general_path_reads_it(cells: list[str], width: int, line_end: str) -> None:
    body = (",".join((*cells, "0.5")[:width]) + line_end).encode()
    record = CsvCodec().decode_record(body, "utf-8")
    if record is not None:
        assert record == general_record(CsvCodec(), body)


@PROPERTIES
@given(
    cells=plain_record_cells(),
    width=st.integers(5, 9),
    numbers=st.booleans(),
    extra=st.dictionaries(UNKNOWN_KEYS | st.just("instances"), FIELD_VALUES, max_size=1),
)
def test_a_plain_json_record_reads_as_the_general_path_reads_it(
    cells: list[str], width: int, numbers: bool, extra: dict[str, Any]
) -> None:
    values = [int(cell) if numbers and cell.isdecimal() else cell or None for cell in cells]
    body = json.dumps({**dict(zip(FIELD_NAMES[:width], values, strict=False)), **extra}).encode()
    record = JsonCodec().decode_record(body, "")
    if record is not None:
        assert record == general_record(JsonCodec(), body)


@pytest.mark.parametrize(
    ("codec", "body", "charset"),
    [
        (CsvCodec(), b"UA,1545,EWR,IAH,2013-11-05,0515,0819,1400\n", ""),
        (CsvCodec(), b"UA,1545,EWR,IAH,2013-11-05,0515", "UTF_8"),
        (CsvCodec(), b"UA,1545,EWR,IAH,2013-11-05,0515,,,0.25\r\n", "utf8"),
        (JsonCodec(), json.dumps(RECORD).encode(), ""),
        (JsonCodec(), json.dumps({**RECORD, "distance": 1400.5, "crs_arr_time": None}).encode(), "utf-8"),
    ],
)
def test_plain_records_take_the_shortcut(codec: Codec, body: bytes, charset: str) -> None:
    record = codec.decode_record(body, charset)
    assert record is not None
    assert record == general_record(codec, body)


@pytest.mark.parametrize(
    ("codec", "body", "charset"),
    [
        (CsvCodec(), b"carrier,flight_number,origin,dest,flight_date,crs_dep_time\nUA,1,EWR,IAH,2013-11-05,0515", ""),
        (CsvCodec(), b"UA,1545,EWR,IAH,2013-11-05,0515\nUA,1545,EWR,IAH,2013-11-05,0515", ""),
        (CsvCodec(), b"\xef\xbb\xbfUA,1545,EWR,IAH,2013-11-05,0515", ""),
        (CsvCodec(), b"UA,1545,EWR,IAH,2013-11-05,0515", "latin-1"),
        (CsvCodec(), b"UA,1545,EWR,IAH,2013-11-05,0515," + b"0" * PLAIN_RECORD_BYTES, ""),
        (JsonCodec(), json.dumps([RECORD]).encode(), ""),
        (JsonCodec(), json.dumps({"instances": [RECORD]}).encode(), ""),
        (JsonCodec(), json.dumps({**RECORD, "FL_DATE": "2013-11-05"}).encode(), ""),
        (JsonCodec(), json.dumps({**RECORD, "flight_number": True}).encode(), ""),
        (JsonCodec(), json.dumps({**RECORD, "distance": float("nan")}).encode(), ""),
        (JsonCodec(), json.dumps({**RECORD, "crs_dep_time": 2460}).encode(), ""),
        (JsonLinesCodec(), json.dumps(RECORD).encode(), ""),
    ],
)
def test_other_bodies_take_the_general_path(codec: Codec, body: bytes, charset: str) -> None:
    assert codec.decode_record(body, charset) is None
