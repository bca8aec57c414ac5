"""Status events as Server-Sent Event frames, encoded once however many clients read them."""

from __future__ import annotations

from dataclasses import dataclass

import msgspec
from commandcenter_contracts import (
    RUN_TERMINAL_TYPES,
    BatchStarted,
    RunPlanned,
    RunStarted,
    TaskQueued,
    status_decoder,
)
from litestar.response import ServerSentEventMessage

from gateway.readmodel.projection import event_type

# Events after which a run that had ended (halted) goes on: a replay re-opens it.
REOPENING_TYPES = frozenset(
    str(cls.__struct_config__.tag) for cls in (RunPlanned, RunStarted, BatchStarted, TaskQueued)
)

ENDS = 1
"""A frame's mark: the run's end (`run.succeeded`, …)."""
REOPENS = 2
"""A frame's mark: the run goes on (`REOPENING_TYPES`)."""


def status_type(data: bytes) -> str | None:
    """The event's type, or None when it is not a status event (the projector dead-letters
    those; SSE clients only ever see well-formed events)."""
    try:
        return event_type(status_decoder.decode(data))
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None


def mark(kind: str) -> int:
    return ENDS if kind in RUN_TERMINAL_TYPES else REOPENS if kind in REOPENING_TYPES else 0


def frame(seq: int, kind: str, data: bytes) -> bytes:
    """The bytes litestar would send for this event (`id:` its stream sequence)."""
    return ServerSentEventMessage(id=seq, event=kind, data=data.decode("utf-8", "replace")).encode()


@dataclass(eq=False)
class Encoded(ServerSentEventMessage):
    """Frames encoded already: litestar sends a message's `encode()` as it is, so many events
    go out as one write."""

    frames: bytes = b""

    def encode(self) -> bytes:
        return self.frames
