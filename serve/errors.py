"""HTTP-level failures of the model server, on the project's one error base class."""

from __future__ import annotations

from http import HTTPStatus

from delaycast.errors import DelaycastError


class UnsupportedMediaType(DelaycastError):
    """A Content-Type no codec decodes."""

    status = HTTPStatus.UNSUPPORTED_MEDIA_TYPE
    title = "unsupported media type"


class NotAcceptable(DelaycastError):
    """An Accept header no codec can answer."""

    status = HTTPStatus.NOT_ACCEPTABLE
    title = "not acceptable"


class BadRequest(DelaycastError):
    """An HTTP request the server cannot use (bad header, unknown path, wrong method)."""

    status = HTTPStatus.BAD_REQUEST
    title = "bad request"
