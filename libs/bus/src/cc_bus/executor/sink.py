"""The task runner's EventSink on NATS: progress on `cc.status.<run>`, output lines on
`cc.log.<run>.<task>`.

Both go through bounded queues drained in the background, in order: a slow or unreachable
NATS never blocks the agent's output pipe nor the task's steps. Only the outcome must arrive,
and the service publishes that itself after `aclose()` has flushed what it could.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from commandcenter_contracts import LogLine, StatusEvent
from nats.js import JetStreamContext

from cc_bus.publish import publish_log, publish_status

log = logging.getLogger(__name__)

T = TypeVar("T")


class _Outbox(Generic[T]):
    """A bounded queue published in order by one background task; drops when full."""

    def __init__(self, what: str, send: Callable[[T], Awaitable[object]], size: int) -> None:
        self._what = what
        self._send = send
        self._queue: asyncio.Queue[T] = asyncio.Queue(maxsize=size)
        self._dropped = 0
        self._failed = 0
        self._task = asyncio.create_task(self._drain())

    def put(self, item: T) -> None:
        try:
            self._queue.put_nowait(item)
        except asyncio.QueueFull:
            self._dropped += 1

    async def flush(self, timeout_s: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._queue.join(), timeout=timeout_s)

    async def close(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        lost = self._dropped + self._failed + self._queue.qsize()
        if lost:
            log.warning("%d %s of the task could not be published", lost, self._what)

    async def _drain(self) -> None:
        while True:
            item = await self._queue.get()
            try:
                await self._send(item)
            except Exception as exc:
                self._failed += 1
                if self._failed == 1:
                    log.warning("publishing %s fails: %s", self._what, exc)
            finally:
                self._queue.task_done()


class NatsEventSink:
    def __init__(self, js: JetStreamContext, *, max_queued: int = 10_000) -> None:
        self._js = js
        # Part of each line's Nats-Msg-Id: starting from the clock keeps the lines of a
        # redelivered attempt from being dropped as duplicates of the first delivery's lines.
        self._seq = time.time_ns()
        self._status: _Outbox[StatusEvent] = _Outbox("status events", self._send_status, 1000)
        self._lines: _Outbox[LogLine] = _Outbox("log lines", self._send_line, max_queued)

    async def status(self, event: StatusEvent) -> None:
        self._status.put(event)

    async def log(self, line: LogLine) -> None:
        self._lines.put(line)

    async def aclose(self, *, timeout_s: float = 5.0) -> None:
        """Publish what is queued (for at most `timeout_s` in all), then stop."""
        started = time.monotonic()
        await self._status.flush(timeout_s)
        await self._lines.flush(max(0.0, timeout_s - (time.monotonic() - started)))
        await self._status.close()
        await self._lines.close()

    async def _send_status(self, event: StatusEvent) -> None:
        await publish_status(self._js, event)

    async def _send_line(self, line: LogLine) -> None:
        self._seq += 1
        await publish_log(self._js, line, seq=self._seq)
