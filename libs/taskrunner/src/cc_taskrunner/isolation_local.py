"""What the isolations on this machine (`WorktreeIsolation`, `FreshCloneIsolation`) share: a
folder for their checkouts, the commits' identity, time limits, the commands' environment."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import replace
from pathlib import Path
from typing import TypeVar

from cc_taskrunner.environment import ExecEnvironment
from cc_taskrunner.identity import GitIdentity

RUNS_REMEMBERED = 256
"""Runs whose answers (has the repository a remote, where do its branches go) are kept."""

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


async def per_run(cache: dict[K, asyncio.Future[V]], key: K, ask: Callable[[], Awaitable[V]]) -> V:
    """`ask()` once per `key` (which names a run): every task of a run sees the same answer,
    and the run's tasks starting together wait for the one question (a git process each, else).
    A question that failed (or was cancelled) is asked again by the next task. The oldest
    answers go once `RUNS_REMEMBERED` are kept."""
    answer = cache.get(key)
    if answer is None or (answer.done() and (answer.cancelled() or answer.exception())):
        while len(cache) >= RUNS_REMEMBERED:
            del cache[next(iter(cache))]
        answer = cache[key] = asyncio.ensure_future(ask())
    try:
        # Shielded: a cancelled task leaves the question to the others waiting for it.
        return await asyncio.shield(answer)
    except Exception:
        if cache.get(key) is answer:
            del cache[key]
        raise


class LocalIsolation:
    def __init__(
        self,
        root: Path,
        identity: GitIdentity,
        *,
        kill_grace_s: float = 3.0,
        git_timeout_s: float = 300.0,
        environment: ExecEnvironment | None = None,
    ) -> None:
        """`root`: where the checkouts go. `environment`: what commands get; the identity
        always applies on top (the commits are made by CommandCenter)."""
        self._root = root.expanduser()
        self._identity = identity
        self._kill_grace_s = kill_grace_s
        self._git_timeout_s = git_timeout_s
        base = environment if environment is not None else ExecEnvironment()
        self._environment = replace(base, fixed={**base.fixed, **identity.env()})
