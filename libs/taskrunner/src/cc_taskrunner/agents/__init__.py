"""Agent adapters, by the name a task asks for (`task.agent.name`).

Every module (or package) of this folder that exposes `KIND` (an `AgentKind`) is an agent:
adding one (Codex, Aider, Gemini CLI) is one new module, found here without being listed.
`available_agents()` says which of them can run on this machine, for preflight and /ready.
"""

from __future__ import annotations

import functools
import importlib
import importlib.metadata
import pkgutil
from collections.abc import Sequence

from commandcenter_contracts import AgentAvailability, ExecutionMode, ExecutorInfo

from cc_taskrunner.agents.claude import (
    ClaudeAgent,
    claude_program,
    credential_source,
    find_claude,
)
from cc_taskrunner.agents.claude.credentials import credential_names
from cc_taskrunner.agents.command import CommandAgent
from cc_taskrunner.agents.kind import AgentKind, AgentStatus
from cc_taskrunner.agents.plan_follower import PlanFollowerAgent, files_to_create
from cc_taskrunner.ports import Agent
from cc_taskrunner.settings import RunnerSettings

__all__ = [
    "AgentKind",
    "AgentStatus",
    "ClaudeAgent",
    "CommandAgent",
    "PlanFollowerAgent",
    "agent_kinds",
    "agent_names",
    "available_agents",
    "claude_program",
    "default_agents",
    "executor_info",
    "files_to_create",
    "find_claude",
    "resolve_agents",
]


@functools.cache
def agent_kinds() -> dict[str, AgentKind]:
    """Every agent module's `KIND`, by name."""
    kinds: dict[str, AgentKind] = {}
    for module in pkgutil.iter_modules(__path__):
        loaded = importlib.import_module(f"{__name__}.{module.name}")
        kind = getattr(loaded, "KIND", None)
        if isinstance(kind, AgentKind):
            if kind.name in kinds:
                raise RuntimeError(f"two agent modules are named {kind.name!r}")
            kinds[kind.name] = kind
    return dict(sorted(kinds.items()))


def agent_names() -> tuple[str, ...]:
    return tuple(agent_kinds())


def default_agents(settings: RunnerSettings) -> dict[str, Agent]:
    """Every agent adapter by the name a task asks for."""
    return {name: kind.create(settings) for name, kind in agent_kinds().items()}


def resolve_agents(settings: RunnerSettings | None = None) -> dict[str, AgentStatus]:
    """Which agents can run here and why not (settings default to the `CC_…` environment)."""
    settings = settings if settings is not None else RunnerSettings.from_env()
    return {name: kind.status(settings) for name, kind in agent_kinds().items()}


def executor_info(
    executor_id: str,
    mode: ExecutionMode,
    slots: int,
    settings: RunnerSettings,
    agent_credentials: Sequence[str] = (),
) -> ExecutorInfo:
    """What an executor announces: its agents (may run `claude --version`: call it off the
    event loop), the name of the credential its Claude agents use, and the names of every
    credential it has (`agent_credentials`: the variables it hands its agents besides)."""
    agents = {
        name: AgentAvailability(available=status.available, detail=status.detail)
        for name, status in resolve_agents(settings).items()
    }
    return ExecutorInfo(
        executor_id=executor_id,
        mode=mode,
        slots=slots,
        agents=agents,
        credential=credential_source(credentials_file=settings.claude_credentials_file),
        credentials=credential_names(
            credentials_file=settings.claude_credentials_file, also=agent_credentials
        ),
        version=_version(),
    )


def _version() -> str:
    try:
        return importlib.metadata.version("cc-taskrunner")
    except importlib.metadata.PackageNotFoundError:
        return ""


available_agents = resolve_agents
"""The name `commandcenter preflight` imports."""
