"""The gateway's cache of run views that stopped changing, and their `ETag`s.

A run that ended (`RUN_ENDED`) rarely changes again, but it can: a replay re-opens a halted
run, a pull request is merged after the run succeeded, a cancelled run's last task reports.
So the cache is never trusted on its own: every read asks PostgreSQL for the run's version
(`runs.version`, a new value with each change, in the same statement that would read the view)
and a cached body is served only while the version is the one it was encoded at. Views of runs
still going are not kept: they change with almost every event.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import NamedTuple

from litestar.datastructures import State

MAX_BYTES = 64 * 1024 * 1024
"""What the cached bodies may take together; the least recently read go first."""

_STATE_KEY = "run_view_cache"


class CachedView(NamedTuple):
    version: int
    body: bytes


class ViewCache:
    """Encoded views by run id, least recently read evicted first beyond `max_bytes`."""

    def __init__(self, max_bytes: int = MAX_BYTES) -> None:
        self.max_bytes = max_bytes
        self.size = 0
        self._views: OrderedDict[str, CachedView] = OrderedDict()

    def get(self, run_id: str) -> CachedView | None:
        cached = self._views.get(run_id)
        if cached is not None:
            self._views.move_to_end(run_id)
        return cached

    def put(self, run_id: str, version: int, body: bytes) -> None:
        self.drop(run_id)
        if len(body) > self.max_bytes:
            return
        self._views[run_id] = CachedView(version, body)
        self.size += len(body)
        while self.size > self.max_bytes:
            _, evicted = self._views.popitem(last=False)
            self.size -= len(evicted.body)

    def drop(self, run_id: str) -> None:
        cached = self._views.pop(run_id, None)
        if cached is not None:
            self.size -= len(cached.body)

    def __len__(self) -> int:
        return len(self._views)


def provide_view_cache(state: State) -> ViewCache:
    """The app's cache (made on first use: it lives as long as the app)."""
    cache = state.get(_STATE_KEY)
    if cache is None:
        cache = ViewCache()
        state[_STATE_KEY] = cache
    assert isinstance(cache, ViewCache)
    return cache


def etag(version: int) -> str:
    """The view's entity tag: its version (strong: one version is one body, byte for byte)."""
    return f'"v{version}"'


def none_match(if_none_match: str, current: str) -> bool:
    """Whether `If-None-Match` names the current tag (weak comparison, as RFC 9110 asks for
    this header), or is `*`."""
    if if_none_match.strip() == "*":
        return True
    return any(tag.strip().removeprefix("W/") == current for tag in if_none_match.split(","))
