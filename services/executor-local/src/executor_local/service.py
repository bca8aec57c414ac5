"""The local executor: tasks from `cc.task.dispatch.local`, one at a time, in git worktrees.

Start: connect, make the streams and the durable match the settings, announce itself
(`cc_executors`), listen for cancel requests (core NATS, every executor hears every one) and
consume the durable with `cc_bus.Consumer` (one slot: the durable's `max_ack_pending=1` keeps
local mode sequential across replicas). Each message goes through the handler every executor
shares (`TaskMessageHandler`: outcome then ack, retries, dead letters) into the one task flow
(`cc_taskrunner.TaskRunner`) in a worktree of the user's repository.

Stop (SIGTERM/SIGINT): the running task is stopped and handed back (not failed) within
`CC_SHUTDOWN_GRACE_S`, so another executor, or this one restarted, takes it.
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
    executor_local_consumer,
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
from cc_taskrunner import (
    ExecEnvironment,
    GitIdentity,
    SkillCatalog,
    TaskRunner,
    WorktreeIsolation,
    default_agents,
)
from cc_taskrunner.agents import executor_info
from cc_taskrunner.agents.claude.credentials import home_files
from cc_taskrunner.ports import Agent
from commandcenter_contracts import ExecutionMode, TaskDispatched, subjects
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from executor_local.settings import Settings

log = logging.getLogger(__name__)


class LocalExecutor:
    def __init__(self, settings: Settings, *, agents: dict[str, Agent] | None = None) -> None:
        self.settings = settings
        runner = settings.runner
        identity = GitIdentity(runner.git_author_name, runner.git_author_email)
        self._isolation = WorktreeIsolation(
            settings.worktree_root,
            identity,
            kill_grace_s=runner.kill_grace_s,
            environment=ExecEnvironment(agent_files=home_files(runner)),
        )
        self._agents = agents if agents is not None else default_agents(runner)
        self._skills = SkillCatalog(runner.skills_dir)
        self.cancels = CancelRegistry()
        self._nc: Client | None = None
        self._cancel_sub: Subscription | None = None
        self._consumer: Consumer[TaskDispatched] | None = None
        self._consuming: asyncio.Task[None] | None = None
        self._presence: Presence | None = None

    def consumer_spec(self) -> ConsumerSpec:
        return executor_local_consumer(
            ack_wait_s=self.settings.delivery.ack_wait_s,
            max_deliver=self.settings.delivery.max_deliver,
        )

    # --- lifecycle ----------------------------------------------------------------------------
    async def start(self) -> None:
        settings = self.settings
        self._nc = await connect(settings.nats_url, name=settings.executor_id)
        js = self._nc.jetstream()
        await ensure_streams(js)
        spec = self.consumer_spec()
        await ensure_consumer(js, spec)
        info = await asyncio.to_thread(
            executor_info, settings.executor_id, ExecutionMode.LOCAL, 1, settings.runner
        )
        self._presence = Presence(js, info)
        await self._presence.start()
        self._cancel_sub = await self._nc.subscribe(subjects.CONTROL_CANCEL_ALL, cb=self._on_cancel)
        handler = TaskMessageHandler(
            js,
            self._run,
            self.cancels,
            retry_delay_s=settings.delivery.retry_delay_s,
            retry=settings.delivery.retry,
            rules=self._skills,
        )
        self._consumer = Consumer(
            js,
            spec,
            decode=decode_task,
            handle=handler.handle,
            heartbeat_s=settings.delivery.heartbeat_s,
            retry_delay=lambda _: settings.delivery.retry_delay_s,
            name=settings.executor_id,
        )
        self._consuming = asyncio.create_task(self._consumer.run())
        log.info("executor %s: one task at a time, on %s", settings.executor_id, settings.nats_url)

    async def run(self) -> None:
        """Start, work until SIGTERM/SIGINT (or the consumer dies: its error), stop."""
        await run_until_signalled(self, lambda: self._consuming)

    async def stop(self) -> None:
        consumer, consuming = self._consumer, self._consuming
        if consumer is not None and consuming is not None:
            consumer.stop_fetching()
            # The running task, if any, is stopped and handed back, not failed.
            log.info("shutting down: the running task, if any, is handed back")
            self.cancels.shutdown()
            grace = self.settings.shutdown_grace_s
            if not await consumer.wait_idle(grace + self.settings.runner.kill_grace_s):
                await consumer.abandon()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(consuming, timeout=grace)
        if self._presence is not None:
            await self._presence.stop()
        if self._cancel_sub is not None:
            with contextlib.suppress(Exception):
                await self._cancel_sub.unsubscribe()
        nc, self._nc = self._nc, None
        await close(nc)

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
        runner = TaskRunner(
            self._isolation, self._agents, sink, self.settings.runner, skills=self._skills
        )
        return await runner.run(task, cancel, base_attempt=base_attempt)
