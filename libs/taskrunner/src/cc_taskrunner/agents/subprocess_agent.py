"""What the subprocess agents share: run the argv in the workspace, map the ending to a code."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence

from commandcenter_contracts import FailureCode

from cc_taskrunner.ports import AgentContext, AgentResult, ExecRequest
from cc_taskrunner.process import CommandNotFound, LineCallback, OutputStream, ProcessResult


def log_lines(ctx: AgentContext) -> LineCallback:
    """The default line handler: every line of output to the task's log, as it comes."""

    async def forward(stream: OutputStream, line: str) -> None:
        await ctx.log(stream, line)

    return forward


async def run_agent_process(
    ctx: AgentContext,
    argv: Sequence[str],
    *,
    extra_env: Mapping[str, str] | None = None,
    stdin: str | None = None,
    on_line: LineCallback | None = None,
    stop: asyncio.Event | None = None,
) -> ProcessResult | AgentResult:
    """Run the agent's argv with the prompt (or `stdin`) on stdin; `on_line` sees each line of
    output (default: the task's log). `stop` ends it early (default: the task's cancel).

    The process's result, or the `AgentResult` of a failure every agent reports alike
    (missing program, timeout, cancel).
    """
    try:
        request = ExecRequest(
            argv,
            kind="agent",
            timeout_s=ctx.timeout_s,
            stdin=ctx.prompt if stdin is None else stdin,
            env={**ctx.env, **(extra_env or {})},
            cancel=stop if stop is not None else ctx.cancel,
            on_line=on_line or log_lines(ctx),
        )
        result = await ctx.target().exec(request)
    except CommandNotFound as exc:
        return AgentResult(FailureCode.AGENT_NOT_FOUND, str(exc))
    if result.timed_out:
        return AgentResult(
            FailureCode.TIMEOUT,
            f"the agent ran longer than {ctx.timeout_s:g}s; its process tree was killed",
        )
    if result.cancelled and ctx.cancel.is_set():
        return AgentResult(FailureCode.CANCELLED, "cancelled; the agent's process tree was killed")
    return result


def exit_result(result: ProcessResult) -> AgentResult:
    """A plain agent's ending: exit status 0 is success, anything else AGENT_FAILED."""
    if result.returncode != 0:
        tail = result.tail()
        return AgentResult(
            FailureCode.AGENT_FAILED,
            f"the agent exited with status {result.returncode}" + (f":\n{tail}" if tail else ""),
        )
    return AgentResult()
