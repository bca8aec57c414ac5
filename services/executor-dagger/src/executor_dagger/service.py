"""The dagger executor: tasks from `cc.task.dispatch.dagger`, up to `slots` at a time.

Start: choose the backend (logged), then the bus side every executor shares
(`cc_bus.executor.ExecutorBus`: the durable's `max_ack_pending` = CC_DAGGER_MAX_IN_FLIGHT,
updated if it changed; presence; cancel requests; integration turns shared with the other
replicas (`CC_DAGGER_INTEGRATION_TURNS`); `cc_bus.Consumer` pulling into free `slots`:
a replica never holds a message it is not working on, so other replicas can have it). Each
message goes through the handler every executor shares (`cc_bus.executor.TaskMessageHandler`:
outcome then ack, retries, dead letters) into the one task flow (`cc_taskrunner.TaskRunner`)
on this backend's isolation.

Stop (SIGTERM): drain. No new tasks; running ones get `grace_s` to finish; then they are
cancelled and handed back (nak, not failed) for another replica; exit 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from functools import partial

from cc_bus import ConsumerSpec, executor_dagger_consumer, redact_url, run_until_signalled
from cc_bus.executor import ExecutorBus, NatsEventSink, Outcome
from cc_taskrunner import TaskFlow
from cc_taskrunner.agents import executor_info
from cc_taskrunner.ports import NO_TURNS, Agent
from commandcenter_contracts import ExecutionMode, TaskDispatched

from executor_dagger.backend import Backend, open_backend
from executor_dagger.settings import Settings

log = logging.getLogger(__name__)

_STOP_CANCELLED_S = 30.0
"""After the grace period: time for cancelled tasks to stop and hand back (+ kill grace)."""


class DaggerExecutor:
    def __init__(self, settings: Settings, *, agents: dict[str, Agent] | None = None) -> None:
        self.settings = settings
        self._flow = TaskFlow(settings.runner, agents=agents)
        self.backend: Backend | None = None
        self.bus = ExecutorBus(
            settings,
            self.consumer_spec(),
            run=self._run,
            describe=partial(
                executor_info,
                settings.executor_id,
                ExecutionMode.DAGGER,
                settings.slots,
                settings.runner,
                settings.agent_credentials,
            ),
            rules=self._flow.skills,
            slots=settings.slots,
            integration_turns=settings.integration_turns,
        )

    @property
    def fetching(self) -> bool:
        """Whether this replica still takes new tasks (False once a drain began)."""
        pulling = self.bus.consuming
        return pulling is not None and not pulling.done()

    def consumer_spec(self) -> ConsumerSpec:
        return executor_dagger_consumer(
            total_slots=self.settings.max_in_flight,
            ack_wait_s=self.settings.delivery.ack_wait_s,
            max_deliver=self.settings.delivery.max_deliver,
        )

    # --- lifecycle ----------------------------------------------------------------------------
    async def start(self) -> None:
        settings = self.settings
        self.backend = await open_backend(settings)  # raises BackendUnavailable
        await self.bus.start()
        if settings.max_in_flight < settings.slots:
            log.warning(
                "CC_DAGGER_MAX_IN_FLIGHT (%d) is below CC_DAGGER_SLOTS (%d): slots stay idle",
                settings.max_in_flight,
                settings.slots,
            )
        log.info(
            "executor %s: %d slot(s) here, at most %d task(s) across replicas, on %s",
            settings.executor_id,
            settings.slots,
            settings.max_in_flight,
            redact_url(settings.nats_url),
        )

    async def run(self) -> None:
        """Start, work until SIGTERM/SIGINT (or the pull loop dies: its error), drain, stop."""
        await run_until_signalled(self, lambda: self.bus.consuming)

    async def stop(self) -> None:
        await self._drain()
        await self.bus.close()
        if self.backend is not None:
            try:
                await self.backend.close()
            except Exception:
                log.warning("closing the %s backend failed", self.backend.name, exc_info=True)

    async def _drain(self) -> None:
        puller, pulling = self.bus.consumer, self.bus.consuming
        if puller is None or pulling is None:
            return
        puller.stop_fetching()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(asyncio.shield(pulling), timeout=10)
        if puller.running:
            log.info(
                "draining: %d task(s) running, %gs to finish", puller.running, self.settings.grace_s
            )
        if await puller.wait_idle(self.settings.grace_s):
            return
        log.info("grace period over: stopping %d task(s), handing them back", puller.running)
        self.bus.cancels.shutdown()
        if not await puller.wait_idle(self.settings.runner.kill_grace_s + _STOP_CANCELLED_S):
            log.warning(
                "%d task(s) did not stop: abandoned, redelivered after ack_wait", puller.running
            )
            await puller.abandon()

    async def _run(
        self,
        task: TaskDispatched,
        sink: NatsEventSink,
        cancel: asyncio.Event,
        *,
        base_attempt: int,
    ) -> Outcome:
        """The task flow on the backend, which `start` chose."""
        assert self.backend is not None
        return await self._flow.run(
            self.backend.isolation,
            task,
            sink,
            cancel,
            base_attempt=base_attempt,
            turns=self.bus.turns or NO_TURNS,
        )
