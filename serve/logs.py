"""Structured (JSON lines) logging to stdout; request payloads are never logged."""

from __future__ import annotations

import json
import logging
import sys
import time

# Attributes of a LogRecord that `extra=` may set and that we print.
FIELDS = (
    "model_version",
    "model_dir",
    "compiled",
    "request_id",
    "method",
    "path",
    "status",
    "ms",
    "records",
    "error",
    "bind",
    "workers",
    "threads",
    "pid",
)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, and known extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update({name: getattr(record, name) for name in FIELDS if hasattr(record, name)})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure(level: str) -> None:
    """Send every delaycast and gunicorn log line to stdout as JSON."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


def gunicorn_logging(level: str) -> dict[str, object]:
    """gunicorn's logconfig_dict: its own lines as JSON on stdout too."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonFormatter}},
        "handlers": {"stdout": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stdout"}},
        "loggers": {"gunicorn.error": {"handlers": ["stdout"], "level": level.upper(), "propagate": False}},
        "root": {"handlers": ["stdout"], "level": level.upper()},
    }
