"""The planner's use cases, between the handlers (NATS in) and the domain (pure).

Ordering is what makes a crash at any point safe:
- starting a run stores its tasks and progress FIRST, then publishes: a task outcome can
  never arrive for a run the planner does not know;
- applying a status event publishes FIRST, then stores it (appends it to the run's journal),
  then the handler acks: a crash before the store redoes the event against the old progress,
  which gives the very same messages with the very same ids, and JetStream drops them as
  duplicates;
- replaying a task stores the new dispatch (with the request's id) FIRST, then publishes: a
  redelivered request finds its own record and publishes the very same messages again;
- giving up on a task message publishes the dead letter and the failure FIRST, then deletes
  the message: a crash in between redoes it with the same ids.
- a cancelled run is recorded FIRST (so a run cancelled before it was planned never starts),
  then its tasks still waiting in the queue are taken back: an executor that restarted since
  the cancel (and forgot it) finds nothing of the run to start.
- an event that ends a run marks it ended (`ProgressStore.mark_ended`, for the retention
  sweep) BEFORE it is journaled: a crash in between leaves a mark on a run that has not
  ended, which the sweep drops; the other order could leave an ended run unmarked forever.
"Publishes" is every message of the step stored: `planner.pipeline` keeps many in flight at
once where that is safe, and holds the rest in order (its module says which).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

import msgspec
from cc_planfile import SelectionError
from commandcenter_contracts import (
    RUN_ENDED,
    DeadLetter,
    PhaseStartRequested,
    RunCancelled,
    StatusEvent,
    TaskDispatched,
    TaskFailed,
    TaskReplayRequested,
    task_decoder,
)

from planner.domain import replay
from planner.domain.giving_up import MaxDeliveries
from planner.domain.landing import landing_info
from planner.domain.planning import dispatched_by, plan_run, render, run_failed
from planner.domain.progress import RunProgress, advance, could_change
from planner.pipeline import DEFAULT_IN_FLIGHT, Pipeline, Publish
from planner.run_states import RunStates
from planner.store import ProgressStore, StoreConflict, Stored
from planner.task_queue import TaskQueue

log = logging.getLogger(__name__)

MAX_CAS_ATTEMPTS = 20


class InvalidRequest(ValueError):
    """A decodable request the planner can never carry out (goes to the dead letters)."""


PublishDeadLetter = Callable[[DeadLetter], Awaitable[None]]


class Planner:
    def __init__(
        self,
        *,
        store: ProgressStore,
        publish: Publish,
        default_timeout_s: float,
        queue: TaskQueue,
        publish_dead_letter: PublishDeadLetter,
        publish_in_flight: int = DEFAULT_IN_FLIGHT,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self.states = RunStates(store)
        self._clock = clock
        self._publish = Pipeline(publish, in_flight=publish_in_flight).publish_all
        self._default_timeout_s = default_timeout_s
        self._queue = queue
        self._publish_dead_letter = publish_dead_letter

    async def start_run(self, request: PhaseStartRequested) -> None:
        """Plan the run and dispatch its first batch (or publish `run.failed`)."""
        ctx = {"run_id": request.run_id}
        if not ProgressStore.accepts(request.run_id):
            raise InvalidRequest(f"run id {request.run_id!r} is not a valid id")
        if await self._store.is_cancelled(request.run_id):
            log.info("run cancelled before it was planned: not starting it", extra=ctx)
            return
        try:
            planned = plan_run(request, default_timeout_s=self._default_timeout_s)
        except SelectionError as exc:
            log.warning("run refused: %s", exc, extra=ctx)
            await self._publish([run_failed(request, exc)])
            return
        if not await self._store.exists(request.run_id):
            await self._store.put_tasks(planned.tasks)
            landing = landing_info(request)
            if landing is not None:
                await self._store.put_landing(landing)
            await self._store.create(planned.progress)
        else:
            log.info("run already planned: publishing its first messages again", extra=ctx)
        await self._publish(planned.messages)
        if await self._store.is_cancelled(request.run_id):
            # Cancelled while it was being planned: its cancel found no progress to stop and
            # nothing to take back yet. Apply it now, then take the tasks back.
            await self._apply_status(RunCancelled(run_id=request.run_id))
            await self._queue.discard_run(request.run_id)
            log.info("run cancelled while it was planned: took its tasks back", extra=ctx)
            return
        total = sum(len(b.tasks) for b in planned.progress.batches)
        log.info(
            "run planned: %d batches, %d tasks",
            len(planned.progress.batches),
            total,
            extra=ctx,
        )

    async def on_status(self, event: StatusEvent) -> None:
        """Apply one status event to its run; publish what follows, then store the progress.
        A cancelled run is recorded first and its waiting tasks are taken back last."""
        if isinstance(event, TaskFailed) and event.will_retry and event.rework is not None:
            await self.rework_task(event)
            return
        if isinstance(event, RunCancelled):
            await self._store.mark_cancelled(event.run_id)
            # Ended too (a run cancelled before it was planned has nothing else to mark it).
            await self._store.mark_ended(event.run_id, self._clock())
        await self._apply_status(event)
        if isinstance(event, RunCancelled):
            await self._queue.discard_run(event.run_id)

    async def _apply_status(self, event: StatusEvent) -> None:
        if not could_change(event):
            return
        for _ in range(MAX_CAS_ATTEMPTS):
            async with self.states.lock:
                stored = await self.states.current(event.run_id)
                if stored is None:
                    return  # a run this planner never planned (or an event before planning)
                try:
                    await self._advance(stored, event)
                except StoreConflict:
                    self.states.forget(event.run_id)
                    log.info(
                        "progress changed meanwhile: re-applying", extra={"run_id": event.run_id}
                    )
                    continue
                except BaseException:
                    self.states.forget(event.run_id)  # it may hold the event, not stored
                    raise
                return
        raise StoreConflict(f"{event.run_id}: gave up after {MAX_CAS_ATTEMPTS} conflicts")

    async def _advance(self, stored: Stored, event: StatusEvent) -> None:
        """Move the run on by `event`: publish what follows, then journal the event."""
        was_ended = stored.progress.status in RUN_ENDED
        transition = advance(stored.progress, event)
        if not transition.changed:
            return
        tasks = await self._first_dispatches(stored.progress, dispatched_by(transition.actions))
        await self._publish(render(stored.progress, transition.actions, tasks))
        if not was_ended and stored.progress.status in RUN_ENDED:
            await self._store.mark_ended(event.run_id, self._clock())
        await self._store.append(stored, event)
        for action in transition.actions:
            log.info(
                "%s", _describe(action), extra={"run_id": event.run_id, "batch": _batch(action)}
            )

    async def _first_dispatches(
        self, progress: RunProgress, wanted: list[tuple[int, list[str]]]
    ) -> dict[str, TaskDispatched]:
        """The stored first dispatches of the `wanted` tasks (by batch), by task id."""
        out: dict[str, TaskDispatched] = {}
        for batch_index, task_ids in wanted:
            position = {t.task_id: p for p, t in enumerate(progress.batches[batch_index].tasks)}
            found = await self._store.get_dispatches(
                progress.run_id, batch_index, [position[t] for t in task_ids]
            )
            if found is None:
                raise LookupError(f"run {progress.run_id}: its tasks are not stored")
            out.update((t.task_id, t) for t in found)
        return out

    async def replay_task(self, request: TaskReplayRequested) -> replay.Decision:
        """Dispatch a new attempt of a finished task (see `domain.replay`); `Wait` when this
        planner has not yet seen the attempt the requester saw finish (ask again later)."""
        ctx = {"run_id": request.run_id, "task_id": request.task_id}
        outcome = await self._dispatch_again(
            request.run_id,
            request.task_id,
            request.request_id,
            decide=lambda progress, last, cancelled: replay.decide(
                progress, request, last_replayed_attempt=last, cancelled=cancelled
            ),
            dispatch=lambda base, attempt: replay.replay_dispatch(base, request, attempt),
        )
        if outcome is None:
            outcome = replay.Refuse(reason=f"no dispatch of task {request.task_id} is stored")
        if isinstance(outcome, replay.Refuse):
            await self.refuse_replay(request, outcome)
            return outcome
        if not isinstance(outcome, TaskDispatched):
            if isinstance(outcome, replay.Wait):
                log.info("replay not carried out yet: %s", outcome.reason, extra=ctx)
            return outcome
        log.info(
            "replaying %s as attempt %d (requested by %s)",
            outcome.plan_task_id,
            outcome.attempt,
            request.requested_by,
            extra={**ctx, "attempt": outcome.attempt},
        )
        return replay.Go(attempt=outcome.attempt)

    async def refuse_replay(self, request: TaskReplayRequested, refusal: replay.Refuse) -> None:
        """The person was told 202: the run's status stream tells them it will not happen."""
        ctx = {"run_id": request.run_id, "task_id": request.task_id}
        log.info("replay refused: %s", refusal.reason, extra=ctx)
        await self._publish([replay.refused(request, refusal)])

    async def rework_task(self, event: TaskFailed) -> None:
        """An attempt that could not be integrated (a clash with the integration branch, or
        checks failing on the combined tree): dispatch the next attempt from the tip, with
        what clashed. Recorded like a replay FIRST, then published, so a redelivered event
        publishes the very same messages again."""
        ctx = {"run_id": event.run_id, "task_id": event.task_id, "attempt": event.attempt}
        outcome = await self._dispatch_again(
            event.run_id,
            event.task_id,
            replay.rework_request_id(event),
            decide=lambda progress, last, cancelled: replay.decide_rework(
                progress, event, last_replayed_attempt=last, cancelled=cancelled
            ),
            dispatch=lambda base, attempt: replay.rework_dispatch(base, event, attempt),
        )
        if outcome is None:
            log.warning("no dispatch of the task is stored: no re-run", extra=ctx)
        elif isinstance(outcome, replay.Refuse | replay.Wait):
            log.info("no re-run: %s", outcome.reason, extra=ctx)
        elif isinstance(outcome, TaskDispatched):
            log.info(
                "re-running %s from the integration branch as attempt %d (%s)",
                outcome.plan_task_id,
                outcome.attempt,
                event.error_code,
                extra=ctx,
            )

    async def _dispatch_again(
        self, run_id: str, task_id: str, request_id: str, *, decide: _Decide, dispatch: _Redispatch
    ) -> replay.Decision | TaskDispatched | None:
        """A new attempt of a task: `decide` whether to, then the new `dispatch` (from the
        task's last one) is stored under the request's id FIRST, then published; it is returned.
        A request carried out before publishes its very same messages again and gives `Go`;
        a decision not to gives that decision; None when no dispatch of the task is stored."""
        record = await self._store.get_replay(run_id, task_id)
        if record is not None and record.request_id == request_id:
            # This very request was carried out before (a redelivery): the same messages again.
            await self._publish(replay.replay_messages(record.dispatch))
            return replay.Go(attempt=record.dispatch.attempt)
        cancelled = await self._store.is_cancelled(run_id)
        base = record.dispatch if record is not None else None
        async with self.states.lock:
            stored = await self.states.current(run_id)
            progress = stored.progress if stored is not None else None
            decision = decide(
                progress, record.dispatch.attempt if record is not None else 0, cancelled
            )
            if not isinstance(decision, replay.Go):
                return decision
            if base is None and progress is not None:
                found = progress.find_task(task_id)
                if found is not None:
                    batch_index = found[0].index
                    tasks = await self._first_dispatches(progress, [(batch_index, [task_id])])
                    base = tasks.get(task_id)
        if base is None:
            return None
        new = dispatch(base, decision.attempt)
        await self._store.put_replay(replay.ReplayRecord(request_id=request_id, dispatch=new))
        await self._publish(replay.replay_messages(new))
        return new

    async def give_up(self, advisory: MaxDeliveries) -> None:
        """A task message its consumer will not deliver again: dead-letter it, fail its task
        (so the run halts instead of waiting forever), then remove it from the queue."""
        stored_msg = await self._queue.get(advisory.stream, advisory.stream_seq)
        if stored_msg is None:
            log.info("%s #%d is gone already", advisory.stream, advisory.stream_seq)
            return
        try:
            task = task_decoder.decode(stored_msg.data)
        except (msgspec.DecodeError, msgspec.ValidationError):
            task = None
        letter = advisory.letter(subject=stored_msg.subject, task=task, raw=stored_msg.data)
        await self._publish_dead_letter(letter)
        if task is not None:
            record = await self._store.get_replay(task.run_id, task.task_id)
            async with self.states.lock:
                stored = await self.states.current(task.run_id)
                failure = advisory.failure(
                    task,
                    stored.progress if stored is not None else None,
                    superseded=record is not None and record.dispatch.attempt > task.attempt,
                )
            if failure is not None:
                await self._publish([failure])
            log.warning(
                "task %s: %s",
                task.plan_task_id,
                advisory.error(),
                extra={"run_id": task.run_id, "task_id": task.task_id, "attempt": task.attempt},
            )
        await self._queue.delete(advisory.stream, advisory.stream_seq)


_Decide = Callable[[RunProgress | None, int, bool], replay.Decision]
"""(the run's progress, the last replayed attempt, whether the run was cancelled) -> decision"""
_Redispatch = Callable[[TaskDispatched, int], TaskDispatched]
"""(the task's last dispatch, the new attempt) -> the new attempt's dispatch"""


def _describe(action: object) -> str:
    return f"{type(action).__name__}: {action}"


def _batch(action: object) -> int | None:
    index = getattr(action, "batch_index", None)
    return index if isinstance(index, int) else None
