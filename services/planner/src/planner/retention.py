"""Forgetting runs long ended: the planner's bucket holds the runs of the retention period, not
every run there ever was.

A run's progress, journal and first dispatches stay in the bucket after it ended, so that a
replay or a raised budget can take it on again. Kept forever, they would make the bucket (and
the server's index of its keys) grow with every run ever started. So the planner marks a run
as it ends (`ProgressStore.mark_ended`), and now and then sweeps: a run ended longer ago than
`CC_RUN_RETENTION_DAYS` plus a day is forgotten, every key of it purged. The gateway refuses
replays and budget changes of runs ended longer ago than the retention itself (409), so no
request it accepted can reach the planner after the run is gone: the extra day covers one
accepted just before that and still waiting in the queue. `CC_RUN_RETENTION_DAYS=0` keeps
every run, as before.

A marked run that went on (a replay re-opened it) loses its mark instead; it is marked again
when it ends. The gateway's read model (PostgreSQL) keeps every run for viewing: only the
planner's working state goes.

Runs that ended under an older planner have no mark: the first sweep of a bucket marks them
(once, with the time it found them, so they are kept a whole period from the upgrade), then
records that it did (`retention/.backfilled`).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable

from commandcenter_contracts import RUN_ENDED

from planner.run_states import RunStates
from planner.store import ProgressStore

log = logging.getLogger(__name__)

GRACE_S = 86_400.0
"""Kept this long after the gateway stops accepting requests for the run (see the module)."""


class Retention:
    def __init__(
        self,
        store: ProgressStore,
        states: RunStates,
        *,
        keep_s: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._states = states
        self._keep_s = keep_s
        self._clock = clock

    async def sweep(self) -> list[str]:
        """Forget every run ended more than `keep_s` ago; the ids of the runs forgotten."""
        if not await self._store.backfilled():
            await self.mark_unmarked_ended_runs()
        cutoff = self._clock() - self._keep_s
        forgotten = []
        for run_id, ended_at in await self._store.ended_runs():
            if ended_at > cutoff:
                continue
            # This process's writers take turns with the sweep: none is half-way through
            # an event of the run while it goes.
            async with self._states.lock:
                stored = await self._store.get(run_id)
                if stored is not None and stored.progress.status not in RUN_ENDED:
                    await self._store.unmark_ended(run_id)
                    continue
                await self._store.forget_run(run_id)
                self._states.forget(run_id)
            forgotten.append(run_id)
        if forgotten:
            log.info("forgot %d run(s) ended before the retention period", len(forgotten))
        return forgotten

    async def mark_unmarked_ended_runs(self) -> int:
        """Mark, with the time now, the ended runs an older planner left without a mark;
        how many. Reads every run's progress: once per bucket."""
        marked = {run_id for run_id, _ in await self._store.ended_runs()}
        now, count = self._clock(), 0
        for run_id in await self._store.run_ids():
            if run_id in marked:
                continue
            stored = await self._store.get(run_id)
            if stored is not None and stored.progress.status in RUN_ENDED:
                await self._store.mark_ended(run_id, now)
                count += 1
        await self._store.set_backfilled()
        if count:
            log.info("marked %d run(s) that ended under an older planner", count)
        return count

    async def run(self, interval_s: float) -> None:
        """Sweep every `interval_s`, the first time at a random point of the first interval
        (planner replicas spread out; a planner restarted often still sweeps)."""
        await asyncio.sleep(random.uniform(0, interval_s))
        while True:
            try:
                await self.sweep()
            except Exception:  # NATS away, say: the next sweep tries again
                log.warning("the retention sweep failed", exc_info=True)
            await asyncio.sleep(interval_s)
