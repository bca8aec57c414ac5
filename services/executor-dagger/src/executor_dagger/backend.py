"""Choosing where tasks run: a Dagger engine or the engine-less backend.

`auto` tries to reach an engine and falls back to engine-less when none answers; `dagger`
refuses to start without one; `engineless` does not even import the Dagger SDK. The choice and
its reason are one INFO line at start, e.g.

    dagger backend: engineless (no Dagger engine reachable: DownloadError: Failed to download …)
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

from cc_taskrunner.ports import Isolation

from executor_dagger.engineless import engineless_isolation
from executor_dagger.settings import Settings

log = logging.getLogger(__name__)


class BackendUnavailable(Exception):
    """`CC_DAGGER_BACKEND=dagger` and no engine answered."""


async def _nothing() -> None:
    return None


@dataclass(frozen=True)
class Backend:
    name: Literal["dagger", "engineless"]
    reason: str
    isolation: Isolation
    close: Callable[[], Awaitable[None]] = _nothing

    def describe(self) -> str:
        return f"dagger backend: {self.name} ({self.reason})"


async def open_backend(settings: Settings) -> Backend:
    if settings.backend == "engineless":
        backend = _engineless(settings, "CC_DAGGER_BACKEND=engineless")
    else:
        backend = await _try_engine(settings)
    log.info(backend.describe())
    return backend


async def _try_engine(settings: Settings) -> Backend:
    # Imported here: the SDK costs ~0.5 s, and engine-less executors never need it.
    from executor_dagger import container_backend

    try:
        engine = await container_backend.connect_engine(settings)
    except Exception as exc:
        reason = f"no Dagger engine reachable: {_first_line(exc)}"
        if settings.backend == "dagger":
            raise BackendUnavailable(f"CC_DAGGER_BACKEND=dagger, but {reason}") from exc
        return _engineless(settings, reason)
    isolation = container_backend.DaggerIsolation(engine.client, settings)
    reason = f"engine {engine.version}, image {settings.image}"
    return Backend("dagger", reason, isolation, engine.close)


def _engineless(settings: Settings, reason: str) -> Backend:
    return Backend("engineless", reason, engineless_isolation(settings))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__
