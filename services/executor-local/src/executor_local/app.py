"""Wiring: `create_app(settings)` builds the local executor (`start`/`stop`, or `run` until a
signal)."""

from __future__ import annotations

from cc_taskrunner.ports import Agent

from executor_local.service import LocalExecutor
from executor_local.settings import Settings


def create_app(settings: Settings, *, agents: dict[str, Agent] | None = None) -> LocalExecutor:
    return LocalExecutor(settings, agents=agents)
