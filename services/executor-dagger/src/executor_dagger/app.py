"""Wiring: the dagger executor from its settings (no module-level state)."""

from __future__ import annotations

from cc_taskrunner.ports import Agent

from executor_dagger.service import DaggerExecutor
from executor_dagger.settings import Settings


def create_app(settings: Settings, *, agents: dict[str, Agent] | None = None) -> DaggerExecutor:
    """`await app.run()` until SIGTERM/SIGINT, or `start()` / `stop()` (tests, embedding)."""
    return DaggerExecutor(settings, agents=agents)
