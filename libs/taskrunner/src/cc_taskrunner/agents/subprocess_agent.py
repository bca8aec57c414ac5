"""What the subprocess agents share: run the argv in the workspace, map the ending to a code."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from commandcenter_contracts import FailureCode

from cc_taskrunner.ports import AgentContext, AgentResult
from cc_taskrunner.process import CommandNotFound, OutputStream


async def run_agent_process(
    ctx: AgentContext,
    argv: Sequence[str],
    *,
    extra_env: Mapping[str, str] | None = None,
) -> AgentResult:
    """The prompt goes on stdin; output lines go to the task's log as they come."""

    async def forward(stream: OutputStream, line: str) -> None:
        await ctx.log(stream, line)

    try:
        result = await ctx.target().exec(
            argv,
            kind="agent",
            timeout_s=ctx.timeout_s,
            stdin=ctx.prompt,
            env={**ctx.env, **(extra_env or {})},
            cancel=ctx.cancel,
            on_line=forward,
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
