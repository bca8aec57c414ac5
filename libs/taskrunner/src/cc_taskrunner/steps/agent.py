"""The agent step: the task's prompt to the agent, in the checkout, within its time limit.

`run_agent(a, fix)` is also what a fix round calls: the agent is sent back with what failed
(its session continued when it has one), and what it spends adds up over the rounds.
"""

from __future__ import annotations

import asyncio

from commandcenter_contracts import FailureCode

from cc_taskrunner.attempt import Attempt
from cc_taskrunner.ports import AgentContext, FixRound
from cc_taskrunner.prompt import build_prompt, with_fix
from cc_taskrunner.reporting import Outcome


async def run_agent(a: Attempt, fix: FixRound | None = None) -> Outcome | None:
    if a.recovered:
        return None
    task = a.task
    if a.cancel.is_set():
        return a.report.failed(FailureCode.CANCELLED, "cancelled before the agent started")
    timeout_s = a.skills.timeout_s(task, a.settings.default_timeout_s)
    prompt = build_prompt(task, skill_text=a.skills.text(task.skill))
    ctx = AgentContext(
        task=task,
        workdir=a.workspace.path,
        prompt=with_fix(prompt, fix),
        timeout_s=timeout_s,
        cancel=a.cancel,
        log=a.report.log,
        workspace=a.workspace,
        fix=fix,
    )
    round_ = fix.number if fix is not None else None
    await a.report.progress("agent_started", task.agent.name, fix_round=round_)
    try:
        # Subprocess agents enforce the timeout themselves; this bounds in-process ones.
        async with asyncio.timeout(timeout_s + a.settings.kill_grace_s + 30):
            result = await a.agent.run(ctx)
    except TimeoutError:
        return a.report.failed(FailureCode.TIMEOUT, f"the agent ran over {timeout_s:g}s")
    a.spent(result.usage)
    a.denials = tuple(dict.fromkeys((*a.denials, *result.denials)))
    await a.report.progress("agent_finished", result.message[:500], fix_round=round_)
    if not result.ok:
        assert result.failure is not None
        return a.report.failed(result.failure, result.message)
    return None
