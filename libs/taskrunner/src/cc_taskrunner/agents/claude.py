"""Claude Code CLI in print mode: the prompt on stdin, edits accepted, output streamed."""

from __future__ import annotations

import shutil
from pathlib import Path

from commandcenter_contracts import FailureCode

from cc_taskrunner.agents.subprocess_agent import run_agent_process
from cc_taskrunner.ports import AgentContext, AgentResult
from cc_taskrunner.settings import RunnerSettings


def find_claude(settings: RunnerSettings) -> tuple[str | None, str]:
    """(path of the CLI on this machine or None, a sentence saying where it is or why not)."""
    if settings.claude_bin:
        found = shutil.which(settings.claude_bin)
        if found is None:
            return None, _missing(settings)
        return found, found
    found = shutil.which("claude")
    if found is None:
        return None, _missing(settings)
    return found, found


def _missing(settings: RunnerSettings) -> str:
    if settings.claude_bin:
        return f"CC_CLAUDE_BIN={settings.claude_bin} is not an executable file"
    return "`claude` is not on PATH (install Claude Code or set CC_CLAUDE_BIN)"


def claude_program(settings: RunnerSettings) -> str:
    """The CLI as configured: a relative path means one relative to the executor's folder."""
    program = settings.claude_bin or "claude"
    if "/" in program and not Path(program).is_absolute():
        return str(Path(program).absolute())
    return program


def claude_argv(binary: str, settings: RunnerSettings, model: str | None) -> list[str]:
    argv = [binary, "-p", "--output-format", "text", "--permission-mode", "acceptEdits"]
    if model:
        argv += ["--model", model]
    return argv + list(settings.claude_args)


class ClaudeAgent:
    def __init__(self, settings: RunnerSettings) -> None:
        self._settings = settings

    async def run(self, ctx: AgentContext) -> AgentResult:
        binary = await ctx.target().resolve_program(claude_program(self._settings))
        if binary is None:
            return AgentResult(FailureCode.AGENT_NOT_FOUND, _missing(self._settings))
        await ctx.log("system", f"agent: {binary}")
        argv = claude_argv(binary, self._settings, ctx.task.agent.model)
        return await run_agent_process(ctx, argv)
