"""Agent adapters, resolved by the name in `task.agent.name`.

`claude` (Claude Code CLI), `command` (any argv) and `plan-follower` (deterministic, built in).
`available_agents()` says which of them can run on this machine, for preflight and /ready.
"""

from __future__ import annotations

from typing import NamedTuple

from cc_taskrunner.agents.claude import ClaudeAgent, claude_argv, find_claude
from cc_taskrunner.agents.command import CommandAgent
from cc_taskrunner.agents.plan_follower import PlanFollowerAgent, files_to_create
from cc_taskrunner.ports import Agent
from cc_taskrunner.settings import RunnerSettings

__all__ = [
    "AgentStatus",
    "ClaudeAgent",
    "CommandAgent",
    "PlanFollowerAgent",
    "available_agents",
    "claude_argv",
    "default_agents",
    "files_to_create",
    "find_claude",
    "resolve_agents",
]


class AgentStatus(NamedTuple):
    available: bool
    detail: str


def default_agents(settings: RunnerSettings) -> dict[str, Agent]:
    """Every agent adapter by the name a task asks for."""
    return {
        "claude": ClaudeAgent(settings),
        "command": CommandAgent(settings),
        "plan-follower": PlanFollowerAgent(),
    }


def resolve_agents(settings: RunnerSettings | None = None) -> dict[str, AgentStatus]:
    """Which agents can run here and why not (settings default to the `CC_…` environment)."""
    settings = settings if settings is not None else RunnerSettings.from_env()
    claude, detail = find_claude(settings)
    return {
        "claude": AgentStatus(claude is not None, detail),
        "command": AgentStatus(True, "runs the task's argv (checked per task)"),
        "plan-follower": AgentStatus(True, "built in"),
    }


available_agents = resolve_agents
"""The name `commandcenter preflight` imports."""
