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

So a step is cut into waves, each sent in order (one connection: each stream stores it in
that order) with up to `in_flight` publishes awaiting their acks; the next wave starts once all
of them are stored. Every message that must be stored alone (run and batch events, a landing
request, a failure) is a wave of its own. A batch's `task.queued` events and its dispatches,
the bulk of what the planner publishes, go in chunks of `in_flight / 2` tasks: the first chunk's
`task.queued`, then each chunk's dispatches together with the next chunk's `task.queued`, then
the last chunk's dispatches. A dispatch is thus sent only after its own `task.queued` (one wave
earlier) is stored, and the two streams' writes (each an fsync with `sync_interval: always`)
overlap instead of taking turns: the status stream's writes no longer wait for the task
stream's, nor the other way round. Consecutive `task.queued` or dispatches that are not a batch's
pair (each of them another task) are one wave.

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


def waves(
    messages: Iterable[Outgoing], *, chunk: int = DEFAULT_IN_FLIGHT // 2
) -> list[list[Outgoing]]:
    """`messages` cut where one must be stored before the next is sent (see the module); a
    batch's `task.queued` and dispatches interleaved `chunk` tasks at a time."""
    if chunk < 1:
        raise ValueError("chunk must be at least 1")
    runs: list[list[Outgoing]] = []
    for message in messages:
        if runs and _may_overlap(runs[-1][-1], message):
            runs[-1].append(message)
        else:
            runs.append([message])
    out: list[list[Outgoing]] = []
    for run in runs:
        previous = out[-1] if out else []
        if _dispatches_of(previous, run):
            out[-1:] = _interleaved(previous, run, chunk)
        else:
            out.append(run)
    return out


def _may_overlap(previous: Outgoing, message: Outgoing) -> bool:
    """Whether `message` may be in flight with `previous`: both `task.queued`, or both
    dispatches (each of another task)."""
    return type(previous) is type(message) and isinstance(message, TaskQueued | TaskDispatched)


def _dispatches_of(queued: list[Outgoing], dispatches: list[Outgoing]) -> bool:
    """Whether `dispatches` are the dispatches of the `task.queued` in `queued`, one for one
    and in the same order (what `planning.render` makes of a batch)."""
    return len(queued) == len(dispatches) and all(
        isinstance(q, TaskQueued)
        and isinstance(d, TaskDispatched)
        and (q.run_id, q.task_id, q.attempt) == (d.run_id, d.task_id, d.attempt)
        for q, d in zip(queued, dispatches, strict=True)
    )


def _interleaved(
    queued: list[Outgoing], dispatches: list[Outgoing], chunk: int
) -> list[list[Outgoing]]:
    """Q0, D0 + Q1, D1 + Q2, ..., Dn: each chunk's dispatches one wave after its `task.queued`."""
    cuts = range(0, len(queued), chunk)
    out = [queued[:chunk]]
    for start in cuts:
        out.append(dispatches[start : start + chunk] + queued[start + chunk : start + 2 * chunk])
    return out


class Pipeline:
    """`publish_all` sends a step's messages wave by wave; `in_flight` bounds the publishes
    awaiting their acks across every step of the process (the planner's consumers work
    side by side)."""

    def __init__(self, publish: Publish, *, in_flight: int = DEFAULT_IN_FLIGHT) -> None:
        if in_flight < 1:
            raise ValueError("in_flight must be at least 1")
        self._publish = publish
        self._slots = asyncio.Semaphore(in_flight)
        self._chunk = max(1, in_flight // 2)

    async def publish_all(self, messages: Sequence[Outgoing]) -> None:
        """Every message stored, in the order the rules need; the first failure is raised."""
        for wave in waves(messages, chunk=self._chunk):
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
