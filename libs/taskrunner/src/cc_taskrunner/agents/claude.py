"""Claude Code CLI in print mode: the prompt on stdin, edits accepted, output streamed."""

from __future__ import annotations

import shutil

from commandcenter_contracts import FailureCode

from cc_taskrunner.agents.subprocess_agent import run_agent_process
from cc_taskrunner.ports import AgentContext, AgentResult
from cc_taskrunner.settings import RunnerSettings


def find_claude(settings: RunnerSettings) -> tuple[str | None, str]:
    """(path of the CLI or None, a sentence saying where it is or why it was not found)."""
    if settings.claude_bin:
        found = shutil.which(settings.claude_bin)
        if found is None:
            return None, f"CC_CLAUDE_BIN={settings.claude_bin} is not an executable file"
        return found, found
    found = shutil.which("claude")
    if found is None:
        return None, "`claude` is not on PATH (install Claude Code or set CC_CLAUDE_BIN)"
    return found, found


def claude_argv(binary: str, settings: RunnerSettings, model: str | None) -> list[str]:
    argv = [binary, "-p", "--output-format", "text", "--permission-mode", "acceptEdits"]
    if model:
        argv += ["--model", model]
    return argv + list(settings.claude_args)


class ClaudeAgent:
    def __init__(self, settings: RunnerSettings) -> None:
        self._settings = settings

    async def run(self, ctx: AgentContext) -> AgentResult:
        binary, detail = find_claude(self._settings)
        if binary is None:
            return AgentResult(FailureCode.AGENT_NOT_FOUND, detail)
        await ctx.log("system", f"agent: {binary}")
        argv = claude_argv(binary, self._settings, ctx.task.agent.model)
        return await run_agent_process(ctx, argv, kill_grace_s=self._settings.kill_grace_s)
