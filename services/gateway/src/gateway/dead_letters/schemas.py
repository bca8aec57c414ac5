"""The dead-letter listing's bodies."""

from __future__ import annotations

from typing import Any

import msgspec

from gateway.readmodel.dead_letter_projector import Letter


class DeadLetterView(Letter, frozen=True, kw_only=True):
    stream_seq: int
    """The letter's position in CC_DEAD."""
    task: dict[str, Any] | None
    """The original task message, when the letter has one."""
    raw: str | None
    """The original bytes (as text) when they were not a readable task."""
    resolved: bool
    """The letter's task has succeeded since (a replay, a later attempt): nothing to do."""


class DeadLetterList(msgspec.Struct, frozen=True, kw_only=True):
    items: list[DeadLetterView]
    count: int
