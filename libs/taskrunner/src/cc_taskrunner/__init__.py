"""Carrying out one task attempt, free of NATS: shared by the local and the dagger executor.

    runner = TaskRunner(WorktreeIsolation(root, identity), default_agents(settings), sink, settings,
                        skills=SkillCatalog(settings.skills_dir))
    outcome = await runner.run(task, cancel, base_attempt=1)  # not yet published

`task.attempt` is the attempt being made; `base_attempt` the first attempt of the task message
it is a delivery of (a pushed branch of any attempt from there on counts as done). The skill
catalog gives the time limit (`SkillCatalog.timeout_s`) and the skill's text for the prompt.

An executor keeps its agents and skill catalog in a `TaskFlow`, one `TaskRunner` per attempt.

Seams (`ports`): `EventSink` (where progress and output lines go), `Isolation` (where the task
runs: a git worktree, a fresh clone, a container), `Workspace` (what the isolation hands out:
`exec` of argv lists and file writes, through which every step of the one flow runs), `Agent`
(who changes the files). `ExecEnvironment` says which variables each kind of command gets
(inherited in local mode, scrubbed for the engine-less backend).

Names are imported on first use, so `cc_taskrunner.agents.available_agents` (preflight,
/ready) does not pay for the isolations, the runner and the skill loader.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS: dict[str, str] = {
    "AgentStatus": "cc_taskrunner.agents",
    "ClaudeAgent": "cc_taskrunner.agents",
    "CommandAgent": "cc_taskrunner.agents",
    "PlanFollowerAgent": "cc_taskrunner.agents",
    "available_agents": "cc_taskrunner.agents",
    "default_agents": "cc_taskrunner.agents",
    "resolve_agents": "cc_taskrunner.agents",
    "check_branch_name": "cc_taskrunner.branches",
    "slugify": "cc_taskrunner.branches",
    "is_commit_of": "cc_taskrunner.commits",
    "parse_trailers": "cc_taskrunner.commits",
    "task_commit_message": "cc_taskrunner.commits",
    "ExecEnvironment": "cc_taskrunner.environment",
    "GitError": "cc_taskrunner.errors",
    "TaskRunnerError": "cc_taskrunner.errors",
    "GitIdentity": "cc_taskrunner.identity",
    "FreshCloneIsolation": "cc_taskrunner.isolation_clone",
    "WorktreeIsolation": "cc_taskrunner.isolation_worktree",
    "Agent": "cc_taskrunner.ports",
    "AgentContext": "cc_taskrunner.ports",
    "AgentResult": "cc_taskrunner.ports",
    "EventSink": "cc_taskrunner.ports",
    "Isolation": "cc_taskrunner.ports",
    "Workspace": "cc_taskrunner.ports",
    "UnsafePath": "cc_taskrunner.paths",
    "CommandNotFound": "cc_taskrunner.process",
    "ProcessResult": "cc_taskrunner.process",
    "kill_process_group": "cc_taskrunner.process",
    "run_process": "cc_taskrunner.process",
    "build_prompt": "cc_taskrunner.prompt",
    "TaskFlow": "cc_taskrunner.flow",
    "Outcome": "cc_taskrunner.runner",
    "TaskRunner": "cc_taskrunner.runner",
    "outcome_event_id": "cc_taskrunner.runner",
    "RunnerSettings": "cc_taskrunner.settings",
    "SkillCatalog": "cc_taskrunner.skills",
    "LocalWorkspace": "cc_taskrunner.workspace",
}

__all__ = [
    "Agent",
    "AgentContext",
    "AgentResult",
    "AgentStatus",
    "ClaudeAgent",
    "CommandAgent",
    "CommandNotFound",
    "EventSink",
    "ExecEnvironment",
    "FreshCloneIsolation",
    "GitError",
    "GitIdentity",
    "Isolation",
    "LocalWorkspace",
    "Outcome",
    "PlanFollowerAgent",
    "ProcessResult",
    "RunnerSettings",
    "SkillCatalog",
    "TaskFlow",
    "TaskRunner",
    "TaskRunnerError",
    "UnsafePath",
    "Workspace",
    "WorktreeIsolation",
    "available_agents",
    "build_prompt",
    "check_branch_name",
    "default_agents",
    "is_commit_of",
    "kill_process_group",
    "outcome_event_id",
    "parse_trailers",
    "resolve_agents",
    "run_process",
    "slugify",
    "task_commit_message",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


if TYPE_CHECKING:
    from cc_taskrunner.agents import (
        AgentStatus,
        ClaudeAgent,
        CommandAgent,
        PlanFollowerAgent,
        available_agents,
        default_agents,
        resolve_agents,
    )
    from cc_taskrunner.branches import check_branch_name, slugify
    from cc_taskrunner.commits import is_commit_of, parse_trailers, task_commit_message
    from cc_taskrunner.environment import ExecEnvironment
    from cc_taskrunner.errors import GitError, TaskRunnerError
    from cc_taskrunner.flow import TaskFlow
    from cc_taskrunner.identity import GitIdentity
    from cc_taskrunner.isolation_clone import FreshCloneIsolation
    from cc_taskrunner.isolation_worktree import WorktreeIsolation
    from cc_taskrunner.paths import UnsafePath
    from cc_taskrunner.ports import (
        Agent,
        AgentContext,
        AgentResult,
        EventSink,
        Isolation,
        Workspace,
    )
    from cc_taskrunner.process import (
        CommandNotFound,
        ProcessResult,
        kill_process_group,
        run_process,
    )
    from cc_taskrunner.prompt import build_prompt
    from cc_taskrunner.runner import Outcome, TaskRunner, outcome_event_id
    from cc_taskrunner.settings import RunnerSettings
    from cc_taskrunner.skills import SkillCatalog
    from cc_taskrunner.workspace import LocalWorkspace
