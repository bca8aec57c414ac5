"""Pulling task messages from the shared durable, never more than this replica's free slots.

Why not faststream's `max_workers`: its concurrent pull subscriber fetches first and then
waits for a free worker, queueing fetched messages in memory (up to `max_workers` of them plus
the fetch batch), so a busy replica holds messages that are neither running nor heartbeated:
other replicas cannot have them, and after ack_wait they are redelivered and run twice.

Here a message is only asked for when a slot is free: one `fetch(batch=1)` per free slot,
each pull request satisfied by exactly one message (a larger batch leaves the rest of the
request open on the server, which could deliver later into a full replica). So a replica holds
at most C messages, each one running and sending in-progress acks; the consumer's
`max_ack_pending` caps the total across replicas.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from cc_bus import ConsumerSpec
from nats.aio.msg import Msg
from nats.errors import ConnectionClosedError, NoServersError
from nats.errors import Error as NatsError
from nats.js import JetStreamContext

log = logging.getLogger(__name__)

Handle = Callable[[Msg], Coroutine[Any, Any, None]]


class SlotPuller:
    def __init__(
        self,
        js: JetStreamContext,
        spec: ConsumerSpec,
        slots: int,
        handle: Handle,
        *,
        fetch_timeout_s: float = 1.0,
    ) -> None:
        self._js = js
        self._spec = spec
        self._slots = slots
        self._handle = handle
        self._fetch_timeout_s = fetch_timeout_s
        self._running: set[asyncio.Task[None]] = set()
        self._changed = asyncio.Event()
        self._stopping = asyncio.Event()

    @property
    def running(self) -> int:
        return len(self._running)

    def stop_fetching(self) -> None:
        self._stopping.set()
        self._changed.set()

    async def run(self) -> None:
        """Fetch and start tasks until `stop_fetching`; running tasks go on after it returns."""
        sub = await self._js.pull_subscribe_bind(
            durable=self._spec.durable, stream=self._spec.stream
        )
        try:
            while not self._stopping.is_set():
                if len(self._running) >= self._slots:
                    await self._wait_for_change()
                    continue
                for msg in await self._fetch_one(sub):
                    if self._stopping.is_set():
                        await _hand_back(msg)  # fetched while stopping: someone else takes it
                    else:
                        self._start(msg)
        finally:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()

    async def wait_idle(self, timeout_s: float) -> bool:
        """Wait until no task runs here; False if some still do after `timeout_s`."""
        if self._running:
            await asyncio.wait(set(self._running), timeout=timeout_s)
        return not self._running

    async def abandon(self) -> None:
        """Stop the tasks' coroutines; their messages, not acked, come back after ack_wait."""
        for task in self._running:
            task.cancel()
        await asyncio.gather(*self._running, return_exceptions=True)

    async def _fetch_one(self, sub: JetStreamContext.PullSubscription) -> list[Msg]:
        try:
            return await sub.fetch(1, timeout=self._fetch_timeout_s)
        except TimeoutError:
            return []
        except (ConnectionClosedError, NoServersError, NatsError) as exc:
            # NATS away for a moment (the client reconnects by itself): try again shortly.
            log.warning("fetching tasks failed: %s", exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=1.0)
            return []

    def _start(self, msg: Msg) -> None:
        task = asyncio.create_task(self._handle(msg))
        self._running.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._running.discard(task)
        self._changed.set()

    async def _wait_for_change(self) -> None:
        self._changed.clear()
        if len(self._running) >= self._slots and not self._stopping.is_set():
            await self._changed.wait()


async def _hand_back(msg: Msg) -> None:
    try:
        await msg.nak(delay=0)
    except Exception:
        log.warning("nak failed: redelivery after ack_wait", exc_info=True)
