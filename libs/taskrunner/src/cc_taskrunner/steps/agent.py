"""The agent step: the task's prompt to the agent, in the checkout, within its time limit."""

from __future__ import annotations

import asyncio

from commandcenter_contracts import FailureCode

from cc_taskrunner.attempt import Attempt
from cc_taskrunner.ports import AgentContext
from cc_taskrunner.prompt import build_prompt
from cc_taskrunner.reporting import Outcome


async def run_agent(a: Attempt) -> Outcome | None:
    if a.recovered:
        return None
    task = a.task
    if a.cancel.is_set():
        return a.report.failed(FailureCode.CANCELLED, "cancelled before the agent started")
    timeout_s = a.skills.timeout_s(task, a.settings.default_timeout_s)
    ctx = AgentContext(
        task=task,
        workdir=a.workspace.path,
        prompt=build_prompt(task, skill_text=a.skills.text(task.skill)),
        timeout_s=timeout_s,
        cancel=a.cancel,
        log=a.report.log,
        workspace=a.workspace,
    )
    await a.report.progress("agent_started", task.agent.name)
    try:
        # Subprocess agents enforce the timeout themselves; this bounds in-process ones.
        async with asyncio.timeout(timeout_s + a.settings.kill_grace_s + 30):
            result = await a.agent.run(ctx)
    except TimeoutError:
        return a.report.failed(FailureCode.TIMEOUT, f"the agent ran over {timeout_s:g}s")
    await a.report.progress("agent_finished", result.message)
    if not result.ok:
        assert result.failure is not None
        return a.report.failed(result.failure, result.message)
    return None
