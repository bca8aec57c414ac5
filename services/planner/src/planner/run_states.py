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

MAX_TASKS_KEPT = 200_000
"""How many tasks' worth of runs are kept (a run's progress is about 1 KB per task in memory):
enough that the runs a planner works on at once stay kept. A run evicted and needed again is
read back (its snapshot and up to a task count of journal entries): kept runs must not thrash."""


class RunStates:
    def __init__(self, store: ProgressStore, *, max_tasks: int = MAX_TASKS_KEPT) -> None:
        self._store = store
        self._max_tasks = max_tasks
        self._kept: OrderedDict[str, tuple[Stored, int]] = OrderedDict()
        self._tasks = 0
        self.lock = asyncio.Lock()

    async def current(self, run_id: str) -> Stored | None:
        """The run's progress as stored now (the kept one when nobody wrote since); None for a
        run never planned. Call it holding `lock`; mutate the result only to store it."""
        kept = self._kept.get(run_id)
        if kept is not None and await self._store.is_current(kept[0]):
            self._kept.move_to_end(run_id)
            return kept[0]
        self.forget(run_id)
        stored = await self._store.get(run_id)
        if stored is None:
            return None
        size = sum(len(b.tasks) for b in stored.progress.batches)
        self._kept[run_id] = (stored, size)
        self._tasks += size
        while self._tasks > self._max_tasks and len(self._kept) > 1:
            _, (_, evicted) = self._kept.popitem(last=False)
            self._tasks -= evicted
        return stored

    def forget(self, run_id: str) -> None:
        """Drop the kept progress (it may hold an event that was not stored)."""
        dropped = self._kept.pop(run_id, None)
        if dropped is not None:
            self._tasks -= dropped[1]
