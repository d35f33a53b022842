"""The one error base class of the project: every expected failure carries an HTTP status.

The status stays on the error rather than in a table of the HTTP layer because two HTTP layers answer
for the same errors, the model server (`serve.app`) and the Lambda: one table in each would be the same
rule written twice. Nothing in `delaycast` reads the status; each HTTP layer writes it into its answer,
and its own HTTP-only errors (415, 406, 405...) live beside it.
"""

from __future__ import annotations

from http import HTTPStatus


class DelaycastError(Exception):
    """An expected failure with a message that is safe to show to the caller."""

    status: HTTPStatus = HTTPStatus.INTERNAL_SERVER_ERROR
    title = "internal error"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class InvalidInput(DelaycastError):
    """A record, a row or a value that does not fit the schema."""

    status = HTTPStatus.BAD_REQUEST
    title = "invalid input"


class DataFileError(InvalidInput):
    """A training file that cannot be read: names the file, line and column."""

    title = "invalid data file"

    def __init__(self, path: str, detail: str, line: int | None = None, column: str | None = None) -> None:
        where = path
        if line is not None:
            where += f", line {line}"
        if column is not None:
            where += f", column {column}"
        super().__init__(f"{where}: {detail}")
        self.path = path
        self.line = line
        self.column = column


class ModelArtifactError(DelaycastError):
    """A model directory that is missing, tampered with, or built by other versions."""

    title = "model artifact refused"


class ConfigError(DelaycastError):
    """A setting or hyperparameter with a value we cannot use."""

    title = "invalid configuration"
