from collections.abc import Sequence
from typing import Any

from delaycast.fields import Field
from delaycast.records import Record

class PlainRecordReader:
    """Reads one plain record of the given fields (`delaycast.fields.FIELDS`); None for anything else."""

    def __init__(self, fields: Sequence[Field]) -> None: ...
    def csv_line(self, line: bytes) -> Record | None:
        """The record of one header-less CSV line of plain cells in field order, else None."""
    def json_object(self, document: dict[str, Any]) -> Record | None:
        """The record of a JSON object of field names and plain values, else None."""
