"""The planner's two use cases, between the handlers (NATS in) and the domain (pure).

Ordering is what makes a crash at any point safe:
- starting a run stores its tasks and progress FIRST, then publishes: a task outcome can
  never arrive for a run the planner does not know;
- applying a status event publishes FIRST, then stores the new progress, then the handler
  acks: a crash before the store redoes the event against the old progress, which gives the
  very same messages with the very same ids, and JetStream drops them as duplicates.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from cc_planfile import SelectionError
from commandcenter_contracts import PhaseStartRequested, StatusEvent

from planner.domain.planning import Outgoing, plan_run, render, run_failed
from planner.domain.progress import StartBatch, apply
from planner.store import ProgressStore, StoreConflict

log = logging.getLogger(__name__)

Publish = Callable[[Outgoing], Awaitable[None]]

MAX_CAS_ATTEMPTS = 20


class InvalidRequest(ValueError):
    """A decodable request the planner can never carry out (goes to the dead letters)."""


class Planner:
    def __init__(self, *, store: ProgressStore, publish: Publish, default_timeout_s: float) -> None:
        self._store = store
        self._publish = publish
        self._default_timeout_s = default_timeout_s

    async def start_run(self, request: PhaseStartRequested) -> None:
        """Plan the run and dispatch its first batch (or publish `run.failed`)."""
        ctx = {"run_id": request.run_id}
        if not ProgressStore.accepts(request.run_id):
            raise InvalidRequest(f"run id {request.run_id!r} is not a valid id")
        try:
            planned = plan_run(request, default_timeout_s=self._default_timeout_s)
        except SelectionError as exc:
            log.warning("run refused: %s", exc, extra=ctx)
            await self._publish(run_failed(request, exc))
            return
        if await self._store.get(request.run_id) is None:
            await self._store.put_tasks(planned.tasks)
            await self._store.create(planned.progress)
        else:
            log.info("run already planned: publishing its first messages again", extra=ctx)
        for message in planned.messages:
            await self._publish(message)
        total = sum(len(b.tasks) for b in planned.progress.batches)
        log.info(
            "run planned: %d batches, %d tasks",
            len(planned.progress.batches),
            total,
            extra=ctx,
        )

    async def on_status(self, event: StatusEvent) -> None:
        """Apply one status event to its run; publish what follows, then store the progress."""
        for _ in range(MAX_CAS_ATTEMPTS):
            stored = await self._store.get(event.run_id)
            if stored is None:
                return  # a run this planner never planned (or an event before planning)
            transition = apply(stored.progress, event)
            if not transition.changed:
                return
            tasks = None
            if any(isinstance(a, StartBatch) for a in transition.actions):
                tasks = await self._store.get_tasks(event.run_id)
            for message in render(transition.progress, transition.actions, tasks):
                await self._publish(message)
            try:
                await self._store.put(transition.progress, stored.revision)
            except StoreConflict:
                log.info("progress changed meanwhile: re-applying", extra={"run_id": event.run_id})
                continue
            for action in transition.actions:
                log.info(
                    "%s", _describe(action), extra={"run_id": event.run_id, "batch": _batch(action)}
                )
            return
        raise StoreConflict(f"{event.run_id}: gave up after {MAX_CAS_ATTEMPTS} conflicts")


def _describe(action: object) -> str:
    return f"{type(action).__name__}: {action}"


def _batch(action: object) -> int | None:
    index = getattr(action, "batch_index", None)
    return index if isinstance(index, int) else None
