"""Publishing the messages of one step (a planned run, an applied event, a replay) with a
bounded number in flight, without breaking the order in which they must be stored.

The order rules, which the step's messages (`planning.render`, `replay.replay_messages`)
already follow and which this module keeps:
- a task's `task.queued` is stored before its dispatch is sent: the executor's `task.started`
  can never come before it (a replay's `task.queued` re-opens the task in the planner, and
  the read model sees a task queued before it runs);
- every other message (run and batch events, a landing request, a failure) is stored before
  anything after it is sent, and is sent only once everything before it is stored: the status
  stream is each run's history, read in order (`batch.started` before its tasks, a batch
  completed before the next one starts, landing after the last batch);
- the step's own writes (the progress, the ack) come only after every message is stored —
  the caller's part: `publish_all` returns only then.

So a step is cut into waves: each run of consecutive `task.queued`, each run of consecutive
dispatches, and every other message alone. A wave is sent in order (one connection: the
stream stores it in that order) with up to `in_flight` publishes awaiting their acks; the
next wave starts once all of them are stored. The `task.queued` and dispatches of a batch, the
bulk of what the planner publishes, are independent (different tasks), so they overlap.

A publish that fails fails the whole step with its own error, as one failing in a sequential
loop did: the others in flight are cancelled (some may be stored: harmless), nothing later is
sent, the step's message is redelivered, and the redo publishes the very same messages under
the same `Nats-Msg-Id`s, which JetStream drops as duplicates.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Sequence

from commandcenter_contracts import TaskDispatched, TaskQueued

from planner.domain.planning import Outgoing

Publish = Callable[[Outgoing], Awaitable[None]]


DEFAULT_IN_FLIGHT = 256
"""Publishes awaiting their acks at once: enough to keep JetStream's writes (and fsyncs)
grouped, little enough that a step's memory and a failure's wasted sends stay small."""


def waves(messages: Iterable[Outgoing]) -> list[list[Outgoing]]:
    """`messages` cut where one must be stored before the next is sent (see the module)."""
    out: list[list[Outgoing]] = []
    for message in messages:
        if out and _may_overlap(out[-1][-1], message):
            out[-1].append(message)
        else:
            out.append([message])
    return out


def _may_overlap(previous: Outgoing, message: Outgoing) -> bool:
    """Whether `message` may be in flight with `previous`: both `task.queued`, or both
    dispatches (each of another task)."""
    return type(previous) is type(message) and isinstance(message, TaskQueued | TaskDispatched)


class Pipeline:
    """`publish_all` sends a step's messages wave by wave; `in_flight` bounds the publishes
    awaiting their acks across every step of the process (the planner's consumers work
    side by side)."""

    def __init__(self, publish: Publish, *, in_flight: int = DEFAULT_IN_FLIGHT) -> None:
        if in_flight < 1:
            raise ValueError("in_flight must be at least 1")
        self._publish = publish
        self._slots = asyncio.Semaphore(in_flight)

    async def publish_all(self, messages: Sequence[Outgoing]) -> None:
        """Every message stored, in the order the rules need; the first failure is raised."""
        for wave in waves(messages):
            if len(wave) == 1:
                async with self._slots:
                    await self._publish(wave[0])
            else:
                await self._publish_wave(wave)

    async def _publish_one(self, message: Outgoing) -> None:
        await self._publish(message)

    async def _publish_wave(self, wave: list[Outgoing]) -> None:
        running: set[asyncio.Task[None]] = set()
        failures: list[BaseException] = []

        def finished(task: asyncio.Task[None]) -> None:
            running.discard(task)
            self._slots.release()
            if not task.cancelled() and (exc := task.exception()) is not None:
                failures.append(exc)

        try:
            for message in wave:
                await self._slots.acquire()
                if failures:
                    self._slots.release()
                    break
                task = asyncio.create_task(self._publish_one(message))
                running.add(task)
                task.add_done_callback(finished)
            while running and not failures:
                # `finished` runs before `wait` wakes: it was registered first
                await asyncio.wait(running, return_when=asyncio.FIRST_EXCEPTION)
            if failures:
                raise failures[0]
        finally:
            for task in running:
                task.cancel()
            if running:
                await asyncio.wait(running)
