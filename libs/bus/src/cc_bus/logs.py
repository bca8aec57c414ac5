"""Structured logs for every service: JSON lines without a TTY, readable lines with one.

Bind context per call with `extra={"run_id": ..., "task_id": ...}`; those keys are emitted.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from datetime import UTC, datetime

_CONTEXT_KEYS = ("run_id", "task_id", "attempt", "batch", "service")


class _JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "service": self.service,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key in _CONTEXT_KEYS:
            if key in record.__dict__:
                doc[key] = record.__dict__[key]
        if record.exc_info:
            doc["exc"] = self.formatException(record.exc_info)
        return json.dumps(doc, default=str)


class _ConsoleFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__(f"%(asctime)s {service:<16} %(levelname)-7s %(message)s", "%H:%M:%S")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        ctx = " ".join(f"{k}={record.__dict__[k]}" for k in _CONTEXT_KEYS if k in record.__dict__)
        return f"{line}  {ctx}" if ctx else line


def configure_logging(service: str, *, level: str | None = None, fmt: str | None = None) -> None:
    """`CC_LOG_LEVEL` (info) and `CC_LOG_FORMAT` (`json`, `console`; default: by TTY)."""
    level = level or os.environ.get("CC_LOG_LEVEL", "info")
    fmt = fmt or os.environ.get("CC_LOG_FORMAT") or ("console" if sys.stderr.isatty() else "json")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_JsonFormatter(service) if fmt == "json" else _ConsoleFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("nats", "httpx", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
