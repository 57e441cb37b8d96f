"""Structured (JSON-lines) logging for the service, and the guards that keep call content out of every log.

Patient text never goes to the logs: our code logs ids, counts and timings only. Libraries do
log content at DEBUG or INFO, so :func:`protect_logs` (called by ``create_app`` and
:func:`configure_logging`, idempotent) withholds it whatever level or handler an operator configures:

- pipecat (loguru) prints every sentence it synthesises and other frames below WARNING: those
  messages are replaced by their function name;
- the WebSocket server (``uvicorn.error``/``websockets.*``) dumps every frame at DEBUG: caller audio
  (BINARY) and transcripts (TEXT) are dropped, connection states kept;
- uvicorn's access line carries the query string, where FHIR searches put national IDs and phone
  numbers: the query is cut off the logged path.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

from loguru import logger as loguru_logger

WITHHELD = "(withheld: may carry call content)"
FRAME_LOGGERS = ("uvicorn.error", "websockets.server", "websockets.client", "websockets.protocol")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": round(time.time(), 3),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


class WithoutQueryString(logging.Filter):
    """uvicorn's access line with the request's query string replaced by ``?…``."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str) and "?" in args[2]:
            record.args = (*args[:2], args[2].split("?", 1)[0] + "?…", *args[3:])
        return True


class WithoutFramePayloads(logging.Filter):
    """Drops the WebSocket library's per-frame DEBUG dumps (``< TEXT '...'``, ``> BINARY 00 01 ...``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno > logging.DEBUG or record.msg not in ("< %s", "> %s"):
            return True
        args = record.args
        frame = args[0] if isinstance(args, tuple) and args else None
        return type(frame).__name__ != "Frame"


def _withhold_library_content(record: Any) -> None:
    """loguru patcher: pipecat's messages below WARNING carry the text it speaks and hears."""
    name = record["name"] or ""
    if name.startswith("pipecat") and record["level"].no < logging.WARNING:
        record["message"] = f"{record['function']}: {WITHHELD}"


def protect_logs() -> None:
    """Install the content guards on pipecat's loguru and on the web server's loggers (idempotent)."""
    loguru_logger.configure(patcher=_withhold_library_content)
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, WithoutQueryString) for f in access.filters):
        access.addFilter(WithoutQueryString())
    for name in FRAME_LOGGERS:
        target = logging.getLogger(name)
        if not any(isinstance(f, WithoutFramePayloads) for f in target.filters):
            target.addFilter(WithoutFramePayloads())


def configure_logging(level: str = "INFO") -> None:
    protect_logs()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger("medvoice")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False
    loguru_logger.remove()
    loguru_logger.add(sys.stderr, level="WARNING", serialize=True)
