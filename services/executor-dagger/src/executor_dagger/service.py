"""The dagger executor: tasks from `cc.task.dispatch.dagger`, up to `slots` at a time.

Start: choose the backend (logged), connect, make the streams and the durable match the
settings (`max_ack_pending` = CC_DAGGER_MAX_IN_FLIGHT, updated if it changed), listen for
cancel requests, and pull tasks into free slots (`cc_bus.Consumer` with `slots`: a replica
never holds a message it is not working on, so other replicas can have it). Each message goes
through the handler every executor shares (`cc_bus.executor.TaskMessageHandler`: outcome then
ack, retries, dead letters) into the one task flow (`cc_taskrunner.TaskRunner`) on this
backend's isolation.

Stop (SIGTERM): drain. No new tasks; running ones get `grace_s` to finish; then they are
cancelled and handed back (nak, not failed) for another replica; exit 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from cc_bus import (
    Consumer,
    ConsumerSpec,
    close,
    connect,
    ensure_consumer,
    ensure_streams,
    executor_dagger_consumer,
    run_until_signalled,
)
from cc_bus.executor import (
    CancelRegistry,
    NatsEventSink,
    Outcome,
    Presence,
    TaskMessageHandler,
    apply_cancel_request,
    decode_task,
)
from cc_taskrunner import SkillCatalog, TaskRunner, default_agents
from cc_taskrunner.agents import executor_info
from cc_taskrunner.ports import Agent
from commandcenter_contracts import ExecutionMode, TaskDispatched, subjects
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from executor_dagger.backend import Backend, open_backend
from executor_dagger.settings import Settings

log = logging.getLogger(__name__)

_STOP_CANCELLED_S = 30.0
"""After the grace period: time for cancelled tasks to stop and hand back (+ kill grace)."""


class DaggerExecutor:
    def __init__(self, settings: Settings, *, agents: dict[str, Agent] | None = None) -> None:
        self.settings = settings
        self._agents = agents if agents is not None else default_agents(settings.runner)
        self._skills = SkillCatalog(settings.runner.skills_dir)
        self.cancels = CancelRegistry()
        self.backend: Backend | None = None
        self._nc: Client | None = None
        self._cancel_sub: Subscription | None = None
        self._puller: Consumer[TaskDispatched] | None = None
        self._pulling: asyncio.Task[None] | None = None
        self._presence: Presence | None = None

    @property
    def fetching(self) -> bool:
        """Whether this replica still takes new tasks (False once a drain began)."""
        return self._pulling is not None and not self._pulling.done()

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
        self._nc = await connect(settings.nats_url, name=settings.executor_id)
        js = self._nc.jetstream()
        await ensure_streams(js)
        spec = self.consumer_spec()
        await ensure_consumer(js, spec)
        self._cancel_sub = await self._nc.subscribe(subjects.CONTROL_CANCEL_ALL, cb=self._on_cancel)
        info = await asyncio.to_thread(
            executor_info,
            settings.executor_id,
            ExecutionMode.DAGGER,
            settings.slots,
            settings.runner,
        )
        self._presence = Presence(js, info)
        await self._presence.start()
        handler = TaskMessageHandler(
            js,
            self._run,
            self.cancels,
            retry_delay_s=settings.delivery.retry_delay_s,
            retry=settings.delivery.retry,
            rules=self._skills,
        )
        self._puller = Consumer(
            js,
            spec,
            decode=decode_task,
            handle=handler.handle,
            slots=settings.slots,
            heartbeat_s=settings.delivery.heartbeat_s,
            retry_delay=lambda _: settings.delivery.retry_delay_s,
            name=settings.executor_id,
        )
        self._pulling = asyncio.create_task(self._puller.run())
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
            settings.nats_url,
        )

    async def run(self) -> None:
        """Start, work until SIGTERM/SIGINT (or the pull loop dies: its error), drain, stop."""
        await run_until_signalled(self, lambda: self._pulling)

    async def stop(self) -> None:
        await self._drain()
        if self._presence is not None:
            await self._presence.stop()
        if self._cancel_sub is not None:
            with contextlib.suppress(Exception):
                await self._cancel_sub.unsubscribe()
        if self.backend is not None:
            try:
                await self.backend.close()
            except Exception:
                log.warning("closing the %s backend failed", self.backend.name, exc_info=True)
        nc, self._nc = self._nc, None
        await close(nc)

    async def _drain(self) -> None:
        puller, pulling = self._puller, self._pulling
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
        self.cancels.shutdown()
        if not await puller.wait_idle(self.settings.runner.kill_grace_s + _STOP_CANCELLED_S):
            log.warning(
                "%d task(s) did not stop: abandoned, redelivered after ack_wait", puller.running
            )
            await puller.abandon()

    # --- handlers -----------------------------------------------------------------------------
    async def _on_cancel(self, msg: Msg) -> None:
        apply_cancel_request(msg.data, self.cancels)

    async def _run(
        self,
        task: TaskDispatched,
        sink: NatsEventSink,
        cancel: asyncio.Event,
        *,
        base_attempt: int,
    ) -> Outcome:
        assert self.backend is not None
        runner = TaskRunner(
            self.backend.isolation, self._agents, sink, self.settings.runner, skills=self._skills
        )
        return await runner.run(task, cancel, base_attempt=base_attempt)
