"""Choosing where tasks run: a Dagger engine or the engine-less backend.

`auto` tries to reach an engine and falls back to engine-less when none answers; `dagger`
refuses to start without one; `engineless` does not even import the Dagger SDK. The choice is
one INFO line at start, e.g.

    dagger backend: no Dagger engine; using the engine-less backend

and why no engine answered (the SDK's `DownloadError: Failed to download the Dagger CLI …` on a
machine without an engine or network: the ordinary case, not news) is a DEBUG line.
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
    """Why this backend, in a few words."""
    isolation: Isolation
    close: Callable[[], Awaitable[None]] = _nothing
    detail: str = ""
    """What lies behind `reason` (the error of the engine that did not answer): for DEBUG."""

    def describe(self) -> str:
        return f"dagger backend: {self.reason}"


NO_ENGINE = "no Dagger engine; using the engine-less backend"


async def open_backend(settings: Settings) -> Backend:
    if settings.backend == "engineless":
        backend = _engineless(settings, "engine-less (CC_DAGGER_BACKEND=engineless)")
    else:
        backend = await _try_engine(settings)
    log.info(backend.describe())
    if backend.detail:
        log.debug("no Dagger engine reachable: %s", backend.detail)
    return backend


async def _try_engine(settings: Settings) -> Backend:
    # Imported here: the SDK costs ~0.5 s, and engine-less executors never need it.
    from executor_dagger import container_backend

    try:
        engine = await container_backend.connect_engine(settings)
    except Exception as exc:
        if settings.backend == "dagger":
            raise BackendUnavailable(
                f"CC_DAGGER_BACKEND=dagger, but no Dagger engine reachable: {_first_line(exc)}"
            ) from exc
        return _engineless(settings, NO_ENGINE, detail=_first_line(exc))
    isolation = container_backend.DaggerIsolation(engine.client, settings)
    reason = f"Dagger engine {engine.version}, image {settings.image}"
    return Backend("dagger", reason, isolation, engine.close)


def _engineless(settings: Settings, reason: str, *, detail: str = "") -> Backend:
    return Backend("engineless", reason, engineless_isolation(settings), detail=detail)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__
