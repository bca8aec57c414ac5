"""Any program as an agent: argv from the task, prompt on stdin and in `CC_PROMPT_FILE`.

Sent back to fix a failed check, it is simply run again: the failure is in its prompt (on stdin
and in the prompt file), after the task's own text.
"""

from __future__ import annotations

from pathlib import PurePath

from commandcenter_contracts import FailureCode, TaskDispatched, encode

from cc_taskrunner.agents.kind import AgentKind, AgentStatus
from cc_taskrunner.agents.subprocess_agent import exit_result, run_agent_process
from cc_taskrunner.ports import AgentContext, AgentResult
from cc_taskrunner.settings import RunnerSettings


def command_env(
    task: TaskDispatched, *, prompt_file: PurePath, task_file: PurePath, workdir: PurePath
) -> dict[str, str]:
    """The `CC_*` task variables a command agent gets."""
    return {
        "CC_PROMPT_FILE": str(prompt_file),
        "CC_TASK_FILE": str(task_file),
        "CC_TASK_ID": task.task_id,
        "CC_RUN_ID": task.run_id,
        "CC_WORKDIR": str(workdir),
    }


class CommandAgent:
    def __init__(self, settings: RunnerSettings) -> None:
        self._settings = settings

    async def run(self, ctx: AgentContext) -> AgentResult:
        argv = list(ctx.task.agent.argv)
        if not argv:
            return AgentResult(FailureCode.AGENT_NOT_FOUND, "the command agent needs an argv")
        workspace = ctx.target()
        program = await workspace.resolve_program(argv[0])
        if program is None:
            return AgentResult(
                FailureCode.AGENT_NOT_FOUND, f"agent command {argv[0]!r} not found on PATH"
            )
        await ctx.log("system", f"agent: {program}")
        # Outside the checkout: these files must never be committed with the task's work.
        prompt_file = await workspace.write_scratch("prompt.md", ctx.prompt)
        task_file = await workspace.write_scratch("task.json", encode(ctx.task).decode())
        env = command_env(
            ctx.task, prompt_file=prompt_file, task_file=task_file, workdir=ctx.workdir
        )
        result = await run_agent_process(ctx, [program, *argv[1:]], extra_env=env)
        return result if isinstance(result, AgentResult) else exit_result(result)


KIND = AgentKind(
    name="command",
    description="any argv (`agent_argv`), prompt on stdin and in $CC_PROMPT_FILE",
    create=CommandAgent,
    status=lambda _settings: AgentStatus(True, "runs the task's argv (checked per task)"),
)
