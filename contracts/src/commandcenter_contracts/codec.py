"""Encoders and decoders, built once (msgspec decoders are reusable and fast)."""

from __future__ import annotations

from typing import Any

import msgspec

from commandcenter_contracts.messages import (
    CancelRequested,
    DeadLetter,
    LandRequested,
    LogLine,
    PhaseStartRequested,
    StatusEvent,
    TaskDispatched,
    TaskReplayRequested,
)
from commandcenter_contracts.plan import Plan

_encoder = msgspec.json.Encoder()

phase_start_decoder = msgspec.json.Decoder(PhaseStartRequested)
task_decoder = msgspec.json.Decoder(TaskDispatched)
status_decoder: msgspec.json.Decoder[StatusEvent] = msgspec.json.Decoder(StatusEvent)
log_decoder = msgspec.json.Decoder(LogLine)
cancel_decoder = msgspec.json.Decoder(CancelRequested)
dead_letter_decoder = msgspec.json.Decoder(DeadLetter)
replay_decoder = msgspec.json.Decoder(TaskReplayRequested)
land_decoder = msgspec.json.Decoder(LandRequested)
plan_decoder = msgspec.json.Decoder(Plan)


def encode(message: Any) -> bytes:
    """JSON bytes of any contract Struct."""
    return _encoder.encode(message)


def to_builtins(message: Any) -> Any:
    """Plain dicts and lists (for HTTP responses and SSE payloads)."""
    return msgspec.to_builtins(message)
