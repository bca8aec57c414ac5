"""What an agent module declares about itself: its name, how to make it, whether it can run."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

from cc_taskrunner.ports import Agent
from cc_taskrunner.settings import RunnerSettings


class AgentStatus(NamedTuple):
    available: bool
    detail: str


@dataclass(frozen=True)
class AgentKind:
    """One agent adapter. An agent module exposes one as `KIND`; the registry finds it."""

    name: str
    """What a run asks for (`agent` in the request, `AgentSpec.name` in a task)."""
    description: str
    create: Callable[[RunnerSettings], Agent]
    status: Callable[[RunnerSettings], AgentStatus]
    """Whether it can run on this machine, and a sentence saying where it is or why not."""
