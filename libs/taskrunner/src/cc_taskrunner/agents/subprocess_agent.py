"""What the subprocess agents share: run the argv in the workspace, map the ending to a code."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

from commandcenter_contracts import FailureCode

from cc_taskrunner.ports import AgentContext, AgentResult
from cc_taskrunner.process import CommandNotFound, OutputStream, run_process


async def run_agent_process(
    ctx: AgentContext,
    argv: Sequence[str],
    *,
    extra_env: Mapping[str, str] | None = None,
    kill_grace_s: float,
) -> AgentResult:
    env = {**os.environ, **ctx.env, **(extra_env or {})}

    async def forward(stream: OutputStream, line: str) -> None:
        await ctx.log(stream, line)

    try:
        result = await run_process(
            argv,
            cwd=ctx.workdir,
            env=env,
            stdin=ctx.prompt.encode(),
            timeout_s=ctx.timeout_s,
            cancel=ctx.cancel,
            on_line=forward,
            kill_grace_s=kill_grace_s,
        )
    except CommandNotFound as exc:
        return AgentResult(FailureCode.AGENT_NOT_FOUND, str(exc))
    if result.timed_out:
        return AgentResult(
            FailureCode.TIMEOUT,
            f"the agent ran longer than {ctx.timeout_s:g}s; its process tree was killed",
        )
    if result.cancelled:
        return AgentResult(FailureCode.CANCELLED, "cancelled; the agent's process tree was killed")
    if result.returncode != 0:
        tail = result.tail()
        return AgentResult(
            FailureCode.AGENT_FAILED,
            f"the agent exited with status {result.returncode}" + (f":\n{tail}" if tail else ""),
        )
    return AgentResult()
