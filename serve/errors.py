"""HTTP-level failures of the model server, on the project's one error base class."""

from __future__ import annotations

from http import HTTPStatus

from delaycast.errors import DelaycastError, InvalidInput
from delaycast.schema import Refusals

BAD_RECORDS_NAMED = 20  # a 400 for refused records names this many, the first in input order


class UnsupportedMediaType(DelaycastError):
    """A Content-Type no codec decodes."""

    status = HTTPStatus.UNSUPPORTED_MEDIA_TYPE
    title = "unsupported media type"


class NotAcceptable(DelaycastError):
    """An Accept header no codec can answer."""

    status = HTTPStatus.NOT_ACCEPTABLE
    title = "not acceptable"


class BadRecords(InvalidInput):
    """Records of a request refused (DELAYCAST_BAD_RECORDS=fail): names the first BAD_RECORDS_NAMED in input order."""

    def __init__(self, refusals: Refusals) -> None:
        count = refusals.count
        detail = "; ".join(str(error) for error in refusals.errors(BAD_RECORDS_NAMED))
        if count > BAD_RECORDS_NAMED:
            detail += f"; and {count - BAD_RECORDS_NAMED} more ({count} records refused)"
        super().__init__(detail)
        self.count = count


class BadRequest(DelaycastError):
    """An HTTP request the server cannot use (bad header, unknown path, wrong method)."""

    status = HTTPStatus.BAD_REQUEST
    title = "bad request"
