"""JSON-lines logging that works the same locally and in Lambda."""

from __future__ import annotations

import json
import logging
import os
import sys
import time

# Only these extra fields are emitted: they describe a request, never its payload.
FIELDS = ("request_id", "source", "rows", "ms", "status", "bucket", "error_type")


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, message and the request fields present."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as one JSON line."""
        entry = {
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "message": record.getMessage(),
        }
        entry.update({name: getattr(record, name) for name in FIELDS if hasattr(record, name)})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def get_logger(name: str = "mnist") -> logging.Logger:
    """The function's logger; installs the JSON formatter only where nobody configured logging."""
    root = logging.getLogger()
    # In Lambda with log format JSON, the runtime has already attached its own JSON handler to the root logger
    # (adding the requestId and our `extra` fields); a second handler would print every line twice.
    if not root.handlers:
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(JsonFormatter())
        root.addHandler(handler)
    logger = logging.getLogger(name)
    logger.setLevel(os.environ.get("LOG_LEVEL", "INFO").upper())
    return logger
