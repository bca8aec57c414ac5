"""Executors alive for a test: what a real executor announces (`cc_taskrunner.agents.
executor_info`), written to the `cc_executors` bucket by the real `cc_bus.executor.Presence`
and deleted on the way out, as an executor's clean stop does."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import cc_bus
from cc_bus.executor import Presence
from cc_taskrunner import RunnerSettings
from cc_taskrunner.agents import executor_info
from commandcenter_contracts import ExecutionMode, ExecutorInfo
from nats.js import JetStreamContext


def without_claude(executor_id: str, mode: ExecutionMode = ExecutionMode.LOCAL) -> ExecutorInfo:
    """An executor whose Claude CLI is missing: it can run `command` and `plan-follower`."""
    settings = RunnerSettings.from_env({"CC_CLAUDE_BIN": str(Path("/nonexistent/claude"))})
    return executor_info(executor_id, mode, 2, settings)


@asynccontextmanager
async def announced(js: JetStreamContext, *infos: ExecutorInfo) -> AsyncIterator[None]:
    presences = [Presence(js, info) for info in infos]
    try:
        for presence in presences:
            await presence.start()
        yield
    finally:
        for presence in presences:
            await presence.stop()


@contextmanager
def announced_from_a_thread(nats_url: str, *infos: ExecutorInfo) -> Iterator[None]:
    """`announced` for a synchronous test: the presences live on an event loop of their own,
    in a thread, until the block ends."""
    ready, done = threading.Event(), threading.Event()
    failure: list[BaseException] = []

    async def live() -> None:
        nc = await cc_bus.connect(nats_url, name="test-presence")
        try:
            async with announced(nc.jetstream(), *infos):
                ready.set()
                await asyncio.to_thread(done.wait)
        finally:
            await nc.close()

    def run() -> None:
        try:
            asyncio.run(live())
        except BaseException as exc:  # reported to the test below
            failure.append(exc)
            ready.set()

    thread = threading.Thread(target=run, name="test-presence")
    thread.start()
    ready.wait(timeout=30)
    try:
        if failure:
            raise failure[0]
        yield
    finally:
        done.set()
        thread.join(timeout=30)
