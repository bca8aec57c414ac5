"""A task's agent output: as text (what there is now), or as Server-Sent Events (live, until
the task has finished and nothing more arrives)."""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import msgspec
from commandcenter_contracts import TASK_ENDED, log_decoder, subjects
from litestar.response import ServerSentEventMessage
from nats.js import JetStreamContext

from gateway.domain_errors import NotFound
from gateway.events.queries import task_status
from gateway.events.sse import Streams, keepalive, require_nats
from gateway.events.streams import follow, last_message
from gateway.runs.ids import RunId, resolve_task_id

# A NATS subject token: what a task id must look like to have a log subject at all.
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{1,200}$")
# How often a log stream checks whether its task has finished, while idle.
LOG_IDLE_CHECK_S = 1.0


@dataclass(frozen=True)
class TaskLog:
    run_id: str
    task_id: str
    subject: str
    last_seq: int
    """The stream sequence of its newest line when asked (0: none yet)."""


async def find_task_log(streams: Streams, run_id: RunId, task: str) -> TaskLog:
    """The log of the run's task that `task` names, by its id or its plan id (`1.2`):
    `NotFound` for a task nobody knows, neither the stream nor the read model. Checked
    before the answer starts."""
    require_nats(streams.nc)
    # By its id, a task with output needs nothing of PostgreSQL (its output outlives an outage).
    found = await _last_line(streams, run_id, task) if _TOKEN.match(task) else None
    if found is not None:
        return found
    task_id = await resolve_task_id(streams.pool, run_id, task)
    if task_id is None or not _TOKEN.match(task_id):
        raise NotFound(f"task {task[:100]} of run {run_id}")
    subject = subjects.log_subject(run_id, task_id)
    return await _last_line(streams, run_id, task_id) or TaskLog(run_id, task_id, subject, 0)


async def _last_line(streams: Streams, run_id: str, task_id: str) -> TaskLog | None:
    """The task's log when it has output."""
    subject = subjects.log_subject(run_id, task_id)
    last = await last_message(streams.js, subjects.STREAM_LOGS, subject)
    return None if last is None else TaskLog(run_id, task_id, subject, last.seq or 0)


def _log_line(data: bytes) -> str | None:
    try:
        return log_decoder.decode(data).line
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None


async def log_text(js: JetStreamContext, log: TaskLog) -> AsyncIterator[str]:
    """The task's output up to `log.last_seq` (what existed when the request came)."""
    if log.last_seq <= 0:
        return
    idle = 0
    messages = follow(
        js, stream=subjects.STREAM_LOGS, subject=log.subject, after_seq=0, idle_s=LOG_IDLE_CHECK_S
    )
    async with contextlib.aclosing(messages):
        async for msg in messages:
            if msg is None:
                idle += 1
                if idle >= 3:  # the rest aged out of the stream meanwhile
                    return
                continue
            line = _log_line(msg.data)
            if line is not None:
                yield line + "\n"
            if msg.metadata.sequence.stream >= log.last_seq:
                return


async def log_events(
    streams: Streams, log: TaskLog, after_seq: int
) -> AsyncIterator[ServerSentEventMessage]:
    """Live output until the task has finished and nothing more arrives."""
    last_sent = time.monotonic()
    messages = follow(
        streams.js,
        stream=subjects.STREAM_LOGS,
        subject=log.subject,
        after_seq=after_seq,
        idle_s=min(LOG_IDLE_CHECK_S, streams.keepalive_s),
    )
    async with contextlib.aclosing(messages):
        async for msg in messages:
            if msg is None:
                status: str | None = None
                with contextlib.suppress(Exception):  # DB down: keep following
                    status = await task_status(streams.pool, log.run_id, log.task_id)
                if status in TASK_ENDED:
                    return
                if time.monotonic() - last_sent >= streams.keepalive_s:
                    last_sent = time.monotonic()
                    yield keepalive()
                continue
            if _log_line(msg.data) is None:
                continue
            last_sent = time.monotonic()
            yield ServerSentEventMessage(
                id=msg.metadata.sequence.stream,
                event="log",
                data=msg.data.decode("utf-8", "replace"),
            )
