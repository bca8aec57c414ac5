"""The gateway's cache of run views that stopped changing, and their `ETag`s.

A run that ended (`RUN_ENDED`) rarely changes again, but it can: a replay re-opens a halted
run, a pull request is merged after the run succeeded, a cancelled run's last task reports.
Every change to an ended run is told on `cc_run_changed` (a trigger on `runs`, migration 0008)
and drops its view here (`gateway.notifications.ChangeListener`). A view is *trusted*, served
without asking PostgreSQL for `TRUST_S`, only when it was read while the listener listened and
no notification came in during the read; any other view is served only after PostgreSQL said
the run is still at its version (`runs.version`, a new value with each change, asked in the
statement that would read the view). Views of runs still going are not kept: they change with
almost every event.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import NamedTuple

MAX_BYTES = 64 * 1024 * 1024
"""What the cached bodies may take together; the least recently read go first."""

CHANNEL = "cc_run_changed"


TRUST_S = 30.0
"""How long a trusted view is served without asking PostgreSQL; then its version is checked
again (one small statement), so a notification lost in a way nobody foresaw costs at most
that long."""


class CachedView(NamedTuple):
    version: int
    body: bytes
    trusted: bool
    """Every change since it was read would have dropped it: no need to ask PostgreSQL."""
    checked_at: float = 0.0
    """When PostgreSQL last said this is the run's version (`time.monotonic()`)."""

    def serve_unchecked(self, now: float) -> bool:
        return self.trusted and now - self.checked_at < TRUST_S


class ViewCache:
    """Encoded views by run id, least recently read evicted first beyond `max_bytes`.

    `generation` moves with every notification and every change of trust: a read that
    started at another generation may have missed a change, so its view is kept untrusted."""

    channel = CHANNEL

    def __init__(self, max_bytes: int = MAX_BYTES) -> None:
        self.max_bytes = max_bytes
        self.size = 0
        self.generation = 0
        self.listening = False
        self._views: OrderedDict[str, CachedView] = OrderedDict()

    def get(self, run_id: str) -> CachedView | None:
        cached = self._views.get(run_id)
        if cached is not None:
            self._views.move_to_end(run_id)
        return cached

    def put(self, run_id: str, version: int, body: bytes, generation: int) -> None:
        """Keep the view a read that started at `generation` found."""
        self.drop(run_id)
        if len(body) > self.max_bytes:
            return
        trusted = self.listening and generation == self.generation
        self._views[run_id] = CachedView(version, body, trusted, time.monotonic())
        self.size += len(body)
        while self.size > self.max_bytes:
            _, evicted = self._views.popitem(last=False)
            self.size -= len(evicted.body)

    def drop(self, run_id: str) -> None:
        cached = self._views.pop(run_id, None)
        if cached is not None:
            self.size -= len(cached.body)

    def changed(self, run_id: str) -> None:
        self.generation += 1
        self.drop(run_id)

    def start_trusting(self) -> None:
        self.generation += 1  # a read from before may have missed a change
        self.listening = True

    def stop_trusting(self) -> None:
        """Changes may go unheard from now on: what is kept is checked before it is served."""
        self.listening = False
        self.generation += 1
        for run_id in list(self._views):
            self._views[run_id] = self._views[run_id]._replace(trusted=False)

    def __len__(self) -> int:
        return len(self._views)


def etag(version: int) -> str:
    """The view's entity tag: its version (strong: one version is one body, byte for byte)."""
    return f'"v{version}"'


def none_match(if_none_match: str, current: str) -> bool:
    """Whether `If-None-Match` names the current tag (weak comparison, as RFC 9110 asks for
    this header), or is `*`."""
    if if_none_match.strip() == "*":
        return True
    return any(tag.strip().removeprefix("W/") == current for tag in if_none_match.split(","))
