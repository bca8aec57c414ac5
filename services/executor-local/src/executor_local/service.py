"""The local executor: tasks from `cc.task.dispatch.local`, one at a time, in git worktrees.

Start: the bus side every executor shares (`cc_bus.executor.ExecutorBus`: streams, durable,
presence, cancel requests, and `cc_bus.Consumer` with one slot: the durable's
`max_ack_pending=1` keeps local mode sequential across replicas). Each message goes through the
handler every executor shares (`TaskMessageHandler`: outcome then ack, retries, dead letters)
into the one task flow (`cc_taskrunner.TaskRunner`) in a worktree of the user's repository.

Stop (SIGTERM/SIGINT): the running task is stopped and handed back (not failed) within
`CC_SHUTDOWN_GRACE_S`, so another executor, or this one restarted, takes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from functools import partial

from cc_bus import ConsumerSpec, executor_local_consumer, redact_url, run_until_signalled
from cc_bus.executor import ExecutorBus
from cc_taskrunner import ExecEnvironment, GitIdentity, TaskFlow, WorktreeIsolation
from cc_taskrunner.agents import executor_info
from cc_taskrunner.agents.claude.credentials import home_files
from cc_taskrunner.ports import Agent
from commandcenter_contracts import ExecutionMode

from executor_local.settings import Settings

log = logging.getLogger(__name__)


class LocalExecutor:
    def __init__(self, settings: Settings, *, agents: dict[str, Agent] | None = None) -> None:
        self.settings = settings
        runner = settings.runner
        identity = GitIdentity(runner.git_author_name, runner.git_author_email)
        isolation = WorktreeIsolation(
            settings.worktree_root,
            identity,
            kill_grace_s=runner.kill_grace_s,
            environment=ExecEnvironment(agent_files=home_files(runner)),
        )
        flow = TaskFlow(runner, agents=agents)
        self.bus = ExecutorBus(
            settings,
            self.consumer_spec(),
            run=partial(flow.run, isolation),
            describe=partial(executor_info, settings.executor_id, ExecutionMode.LOCAL, 1, runner),
            rules=flow.skills,
        )

    def consumer_spec(self) -> ConsumerSpec:
        return executor_local_consumer(
            ack_wait_s=self.settings.delivery.ack_wait_s,
            max_deliver=self.settings.delivery.max_deliver,
        )

    # --- lifecycle ----------------------------------------------------------------------------
    async def start(self) -> None:
        await self.bus.start()
        log.info(
            "executor %s: one task at a time, on %s",
            self.settings.executor_id,
            redact_url(self.settings.nats_url),
        )

    async def run(self) -> None:
        """Start, work until SIGTERM/SIGINT (or the consumer dies: its error), stop."""
        await run_until_signalled(self, lambda: self.bus.consuming)

    async def stop(self) -> None:
        consumer, consuming = self.bus.consumer, self.bus.consuming
        if consumer is not None and consuming is not None:
            consumer.stop_fetching()
            # The running task, if any, is stopped and handed back, not failed.
            log.info("shutting down: the running task, if any, is handed back")
            self.bus.cancels.shutdown()
            grace = self.settings.shutdown_grace_s
            if not await consumer.wait_idle(grace + self.settings.runner.kill_grace_s):
                await consumer.abandon()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(consuming, timeout=grace)
        await self.bus.close()
