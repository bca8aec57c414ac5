"""The local executor: tasks from `cc.task.dispatch.local`, one at a time, in git worktrees.

The message handling (decode, heartbeats, outcome then ack, dead letters, hand-back on
shutdown, cancel requests) is the one every executor shares, `cc_bus.executor`; the task flow
is `cc_taskrunner.TaskRunner`. What is local here: worktrees of the user's repository, and a
consumer with `max_ack_pending=1`, which keeps local mode sequential whatever the replica count.
"""

from __future__ import annotations

import asyncio
import logging

from cc_bus import (
    ConsumerSpec,
    connect,
    ensure_consumer,
    ensure_streams,
    executor_local_consumer,
)
from cc_bus.executor import (
    CancelRegistry,
    NatsEventSink,
    Outcome,
    Presence,
    TaskMessageHandler,
    apply_cancel_request,
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
from commandcenter_contracts import TaskDispatched
from faststream.nats import NatsMessage
from nats.aio.client import Client
from nats.errors import Error as NatsError

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
        self._handler: TaskMessageHandler | None = None
        self._presence: Presence | None = None

    # --- lifecycle ----------------------------------------------------------------------------
    async def start(self) -> None:
        """Connect, and make the streams and the durable match this executor's settings.

        Runs before the broker subscribes, so a changed ack_wait or max_deliver reaches the
        server before faststream binds to the durable.
        """
        self._nc = await connect(self.settings.nats_url, name=f"{self.settings.executor_id}/pub")
        js = self._nc.jetstream()
        await ensure_streams(js)
        await ensure_consumer(js, self.consumer_spec())
        info = await asyncio.to_thread(
            executor_info, self.settings.executor_id, "local", 1, self.settings.runner
        )
        self._presence = Presence(js, info)
        await self._presence.start()
        self._handler = TaskMessageHandler(
            js,
            self._run,
            self.cancels,
            heartbeat_s=self.settings.heartbeat_s,
            retry_delay_s=self.settings.retry_delay_s,
            retry=self.settings.retry,
            rules=self._skills,
        )

    def consumer_spec(self) -> ConsumerSpec:
        return executor_local_consumer(
            ack_wait_s=self.settings.ack_wait_s, max_deliver=self.settings.max_deliver
        )

    def begin_shutdown(self) -> None:
        """Stop the running task (it is handed back, not failed) and take no new ones."""
        log.info("shutting down: the running task, if any, is handed back")
        self.cancels.shutdown()

    async def close(self) -> None:
        if self._presence is not None:
            await self._presence.stop()
        nc, self._nc = self._nc, None
        if nc is None or nc.is_closed:
            return
        try:
            await nc.drain()
        except NatsError as exc:  # NATS unreachable right now: nothing left to flush anyway
            log.warning("closing the NATS connection: %s", exc)
            await nc.close()

    # --- handlers -----------------------------------------------------------------------------
    async def on_task(self, msg: NatsMessage) -> None:
        assert self._handler is not None, "start() first"
        await self._handler.handle(msg.raw_message)

    async def on_cancel(self, msg: NatsMessage) -> None:
        apply_cancel_request(msg.body, self.cancels)

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
