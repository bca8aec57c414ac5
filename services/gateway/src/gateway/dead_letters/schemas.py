"""The dead-letter listing's bodies."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec


class DeadLetterView(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    subject: str
    """Where the original message was consumed from."""
    error_code: str
    error: str
    run_id: str | None
    task_id: str | None
    attempt: int | None
    num_delivered: int
    at: datetime
    stream_seq: int
    """The letter's position in CC_DEAD."""
    task: dict[str, Any] | None
    """The original task message, when the letter has one."""
    raw: str | None
    """The original bytes (as text) when they were not a readable task."""


class DeadLetterList(msgspec.Struct, frozen=True, kw_only=True):
    items: list[DeadLetterView]
    count: int
