"""Any program as an agent: argv from the task, prompt on stdin and in `CC_PROMPT_FILE`."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from commandcenter_contracts import FailureCode, encode

from cc_taskrunner.agents.subprocess_agent import run_agent_process
from cc_taskrunner.ports import AgentContext, AgentResult
from cc_taskrunner.settings import RunnerSettings


def resolve_program(program: str, workdir: Path) -> str | None:
    """An executable for argv[0]: a path (relative to the workspace) or a name on PATH."""
    if os.sep in program or (os.altsep and os.altsep in program):
        path = Path(program)
        if not path.is_absolute():
            path = workdir / path
        return str(path) if path.is_file() and os.access(path, os.X_OK) else None
    return shutil.which(program)


class CommandAgent:
    def __init__(self, settings: RunnerSettings) -> None:
        self._settings = settings

    async def run(self, ctx: AgentContext) -> AgentResult:
        argv = list(ctx.task.agent.argv)
        if not argv:
            return AgentResult(FailureCode.AGENT_NOT_FOUND, "the command agent needs an argv")
        program = resolve_program(argv[0], ctx.workdir)
        if program is None:
            return AgentResult(
                FailureCode.AGENT_NOT_FOUND, f"agent command {argv[0]!r} not found on PATH"
            )
        await ctx.log("system", f"agent: {program}")
        # Outside the workspace: these files must never be committed with the task's work.
        with tempfile.TemporaryDirectory(prefix="cc-agent-") as tmp:
            prompt_file = Path(tmp) / "prompt.md"
            task_file = Path(tmp) / "task.json"
            prompt_file.write_text(ctx.prompt, encoding="utf-8")
            task_file.write_bytes(encode(ctx.task))
            env = {
                "CC_PROMPT_FILE": str(prompt_file),
                "CC_TASK_FILE": str(task_file),
                "CC_TASK_ID": ctx.task.task_id,
                "CC_RUN_ID": ctx.task.run_id,
                "CC_WORKDIR": str(ctx.workdir),
            }
            return await run_agent_process(
                ctx, [program, *argv[1:]], extra_env=env, kill_grace_s=self._settings.kill_grace_s
            )
