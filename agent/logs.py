"""Structured (JSON-lines) logging for the service. Patient text never goes to the logs: our code
logs ids, counts and timings only, and pipecat's own logger (which prints transcripts at DEBUG) is
held at WARNING."""

from __future__ import annotations

import json
import logging
import sys
import time

from loguru import logger as loguru_logger


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


def configure_logging(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger("medvoice")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False
    loguru_logger.remove()
    loguru_logger.add(sys.stderr, level="WARNING", serialize=True)
