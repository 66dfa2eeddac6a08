"""Structured logs: one JSON object per line (``SOCIALDESK_LOG_FORMAT=json``), for log shippers."""

from __future__ import annotations

import json
import logging
import os
import sys
from datetime import UTC, datetime

# LogRecord's own attributes; uvicorn's color_message repeats msg with ANSI codes.
_RESERVED = set(vars(logging.LogRecord("", 0, "", 0, "", None, None)))
_RESERVED |= {"message", "asctime", "color_message"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
            "pid": record.process,
        }
        # Fields passed with ``extra=`` become keys of their own.
        entry.update({k: v for k, v in vars(record).items() if k not in _RESERVED})
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging(json_format: bool | None = None, level: str | None = None) -> None:
    """Root logging for a socialdesk process; the format and level come from the environment."""
    if json_format is None:
        json_format = os.environ.get("SOCIALDESK_LOG_FORMAT", "text").lower() == "json"
    level = (level or os.environ.get("SOCIALDESK_LOG_LEVEL", "INFO")).upper()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter()
        if json_format
        else logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    if json_format:  # uvicorn's own loggers too, so every line is JSON
        for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
            logger = logging.getLogger(name)
            logger.handlers[:] = []
            logger.propagate = True
