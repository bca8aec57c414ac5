"""The runs' progress as the planner works on it: kept in memory between status events.

Reading a run back from the store (its snapshot and journal) costs the whole run; keeping it
costs nothing per event. A kept run is checked against the store before each use (one small
read: whether anyone appended after it), so a second planner's writes are never missed, and
it is thrown away whenever a step with it fails, so a half-applied event is never kept.
`lock` makes this process's writers (the status consumer, a run cancelled while planned) and
readers (replays, give-ups) take turns: a reader never sees an event half applied.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict

from planner.store import ProgressStore, Stored

DEFAULT_CAPACITY = 32
"""Runs kept in memory (a run's progress is about 1 KB per task there: a few MB for the largest)."""


class RunStates:
    def __init__(self, store: ProgressStore, *, capacity: int = DEFAULT_CAPACITY) -> None:
        self._store = store
        self._capacity = capacity
        self._kept: OrderedDict[str, Stored] = OrderedDict()
        self.lock = asyncio.Lock()

    async def current(self, run_id: str) -> Stored | None:
        """The run's progress as stored now (the kept one when nobody wrote since); None for a
        run never planned. Call it holding `lock`; mutate the result only to store it."""
        kept = self._kept.get(run_id)
        if kept is not None and await self._store.is_current(kept):
            self._kept.move_to_end(run_id)
            return kept
        stored = await self._store.get(run_id)
        if stored is None:
            self._kept.pop(run_id, None)
            return None
        self._kept[run_id] = stored
        self._kept.move_to_end(run_id)
        while len(self._kept) > self._capacity:
            self._kept.popitem(last=False)
        return stored

    def forget(self, run_id: str) -> None:
        """Drop the kept progress (it may hold an event that was not stored)."""
        self._kept.pop(run_id, None)
