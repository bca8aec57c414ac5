"""Run progress in a JetStream key-value bucket (`subjects.KV_PLANNER_RUNS`).

A run's progress is kept as a snapshot plus a journal of the status events applied since, so
storing one event costs the event, not the run (rewriting a whole-run record on every event
made a run's NATS bytes grow with the square of its tasks):
- `<run_id>`          → `Snapshot` (JSON): the progress after the first `applied` journal
                        entries; rewritten only every `snapshot_interval` entries (about once
                        per task count, so its cost per event stays flat). A value written by
                        an older planner (a bare `RunProgress`) reads as a snapshot at 0;
- `<run_id>.j.<n>`    → the n-th status event that changed the run (n = 1, 2, …), created with
                        compare-and-set (`create` fails when the key exists): two writers can
                        never both append entry n, so neither loses the other's update. Entries
                        are never deleted while the bucket holds the run (a deleted key could
                        be created again, and the compare-and-set would not see a stale writer);
- `<run_id>.tasks`    → `TaskIndex` (JSON): how many tasks each batch has. The tasks' first
                        dispatches are in `<run_id>.tasks.<batch>.<chunk>` (at most
                        `TASKS_PER_CHUNK` each), so starting a batch reads that batch, not the run.
                        All of them are written before the progress: a progress entry always has
                        its tasks. An older planner's `<run_id>.tasks` holds every dispatch itself;
- `<run_id>.replay.<task_id>` → `ReplayRecord` (JSON): the task's last replayed dispatch and
                        the request that made it (the next replay starts from it);
- `<run_id>.cancelled` → present once the run was cancelled, even if that happened before the
                        planner planned it (then it never will);
- `<run_id>.landing` → `LandingInfo` (JSON), for runs that land as a pull request or a merge:
                        what the lander needs (repository, base, integration branch, title);
- `ended/.<run_id>`  → `Ended` (JSON): when the run last ended (set as it ends; `/` is in no run
                        id, so these keys never mix with a run's own). The retention sweep
                        (`planner.retention`) lists only these, and forgets a run long ended by
                        purging every key of it: the bucket holds the runs of the retention
                        period, not every run there ever was;
- `retention/.backfilled` → present once the runs that ended under an older planner (which
                        marked none) were marked.
History 1, file storage: the bucket is the planner's only state and survives restarts.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence

import msgspec
from cc_bus.kv_keys import bucket_keys
from cc_bus.topology import kv_stream, open_bucket
from commandcenter_contracts import StatusEvent, TaskDispatched, encode, status_decoder
from nats.js import JetStreamContext
from nats.js.api import KeyValueConfig, StorageType
from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue

from planner.domain.landing import LandingInfo
from planner.domain.planning import RunTasks
from planner.domain.progress import RunProgress, advance
from planner.domain.replay import ReplayRecord

_VALID_RUN_ID = re.compile(r"^[-_=a-zA-Z0-9]+$")
"""A run id that can be a KV key by itself (no `.`: that separates our own suffixes)."""

TASKS_PER_CHUNK = 256
"""Dispatches per stored chunk: one value stays well under NATS's 1 MiB message limit."""

MIN_SNAPSHOT_INTERVAL = 64
_PUTS_IN_FLIGHT = 64


class Snapshot(msgspec.Struct, kw_only=True):
    progress: RunProgress
    applied: int = 0
    """How many journal entries `progress` includes."""


class Ended(msgspec.Struct, frozen=True, kw_only=True):
    at: float
    """When the run ended (seconds since the epoch, the planner's clock)."""


class TaskIndex(msgspec.Struct, frozen=True, kw_only=True):
    run_id: str
    batch_sizes: list[int]


class _StoredTasks(msgspec.Struct, kw_only=True):
    """`<run>.tasks` as either planner wrote it: an index (now) or every dispatch (before)."""

    run_id: str
    batch_sizes: list[int] | None = None
    batches: list[list[TaskDispatched]] | None = None


_snapshot_decoder = msgspec.json.Decoder(Snapshot)
_progress_decoder = msgspec.json.Decoder(RunProgress)
_stored_tasks_decoder = msgspec.json.Decoder(_StoredTasks)
_chunk_decoder = msgspec.json.Decoder(list[TaskDispatched])
_replay_decoder = msgspec.json.Decoder(ReplayRecord)
_landing_decoder = msgspec.json.Decoder(LandingInfo)
_ended_decoder = msgspec.json.Decoder(Ended)
_VALID_TASK_ID = _VALID_RUN_ID
_encoder = msgspec.json.Encoder()


class StoreConflict(Exception):
    """Someone else moved the run's progress on since it was read: reload and re-apply."""


class Stored:
    """A run's progress as stored: its snapshot with the journal after it applied.

    `journaled` is the position of the last journal entry in `progress`; `snapshot_at` the
    one the stored snapshot holds (the next snapshot is due `snapshot_interval` later)."""

    __slots__ = ("journaled", "progress", "snapshot_at", "snapshot_interval")

    def __init__(self, progress: RunProgress, *, journaled: int, snapshot_at: int) -> None:
        self.progress = progress
        self.journaled = journaled
        self.snapshot_at = snapshot_at
        tasks = sum(len(b.tasks) for b in progress.batches)
        # rewriting the whole run once per ~task count keeps its cost per event flat
        self.snapshot_interval = max(MIN_SNAPSHOT_INTERVAL, tasks)


ENDED_PREFIX = "ended/"
"""The first token of the ended-run keys (`ended/.<run_id>`)."""
BACKFILLED_KEY = "retention/.backfilled"
"""Present once the runs that ended under a planner without retention were marked."""


class ProgressStore:
    def __init__(self, kv: KeyValue, js: JetStreamContext, bucket: str) -> None:
        self._kv = kv
        self._js = js
        self._bucket = bucket
        self._stream = kv_stream(bucket)
        self._subject = f"$KV.{bucket}"

    @classmethod
    async def open(cls, js: JetStreamContext, bucket: str, *, replicas: int = 1) -> ProgressStore:
        """Bind to the bucket, creating it on first start, with `replicas` copies."""
        config = KeyValueConfig(
            bucket=bucket, history=1, storage=StorageType.FILE, replicas=replicas
        )
        return cls(await open_bucket(js, config), js, bucket)

    # --- progress: snapshot + journal ------------------------------------------------------
    async def exists(self, run_id: str) -> bool:
        return _VALID_RUN_ID.match(run_id) is not None and await self._value(run_id) is not None

    async def get(self, run_id: str) -> Stored | None:
        """The run's progress: its snapshot, then every journal entry after it applied in
        order; None for a run the planner never planned."""
        if not _VALID_RUN_ID.match(run_id):
            return None
        raw = await self._value(run_id)
        if raw is None:
            return None
        snapshot = _decode_snapshot(raw)
        stored = Stored(snapshot.progress, journaled=snapshot.applied, snapshot_at=snapshot.applied)
        while (entry := await self._value(_journal_key(run_id, stored.journaled + 1))) is not None:
            advance(stored.progress, status_decoder.decode(entry))
            stored.journaled += 1
        return stored

    async def is_current(self, stored: Stored) -> bool:
        """Whether nobody appended to the run's journal since `stored` was read (one small
        read: the entry after the last one it holds)."""
        key = _journal_key(stored.progress.run_id, stored.journaled + 1)
        return await self._value(key) is None

    async def create(self, progress: RunProgress) -> bool:
        """Store a new run's progress; False when the run already has one (a redelivery)."""
        try:
            await self._kv.create(progress.run_id, _encoder.encode(Snapshot(progress=progress)))
        except KeyWrongLastSequenceError:
            return False
        return True

    async def append(self, stored: Stored, event: StatusEvent) -> None:
        """Journal `event`, already applied to `stored.progress`, as the run's next entry
        (then a new snapshot when one is due); `StoreConflict` if someone appended first."""
        run_id = stored.progress.run_id
        position = stored.journaled + 1
        try:
            await self._kv.create(_journal_key(run_id, position), encode(event))
        except KeyWrongLastSequenceError as exc:
            raise StoreConflict(run_id) from exc
        stored.journaled = position
        if position - stored.snapshot_at >= stored.snapshot_interval:
            snapshot = Snapshot(progress=stored.progress, applied=position)
            await self._kv.put(run_id, _encoder.encode(snapshot))
            stored.snapshot_at = position

    # --- the tasks' first dispatches ---------------------------------------------------------
    async def put_tasks(self, tasks: RunTasks) -> None:
        """Every chunk of every batch (many in flight), then the index that says they are all
        there."""
        chunks = [
            (
                _chunk_key(tasks.run_id, b_index, c_index),
                encode(batch[start : start + TASKS_PER_CHUNK]),
            )
            for b_index, batch in enumerate(tasks.batches)
            for c_index, start in enumerate(range(0, len(batch), TASKS_PER_CHUNK))
        ]
        for group in range(0, len(chunks), _PUTS_IN_FLIGHT):
            await asyncio.gather(
                *(
                    self._kv.put(key, value)
                    for key, value in chunks[group : group + _PUTS_IN_FLIGHT]
                )
            )
        index = TaskIndex(run_id=tasks.run_id, batch_sizes=[len(b) for b in tasks.batches])
        await self._kv.put(f"{tasks.run_id}.tasks", _encoder.encode(index))

    async def get_dispatches(
        self, run_id: str, batch_index: int, positions: Sequence[int]
    ) -> list[TaskDispatched] | None:
        """The first dispatches of the tasks at `positions` of batch `batch_index` (reading
        only the chunks that hold them); None when the run's tasks are not stored."""
        stored = await self._stored_tasks(run_id)
        if stored is None:
            return None
        if stored.batches is not None:  # an older planner's: every dispatch in one value
            return [stored.batches[batch_index][p] for p in positions]
        chunks: dict[int, list[TaskDispatched]] = {}
        out = []
        for position in positions:
            c_index, offset = divmod(position, TASKS_PER_CHUNK)
            if c_index not in chunks:
                raw = await self._value(_chunk_key(run_id, batch_index, c_index))
                if raw is None:
                    return None
                chunks[c_index] = _chunk_decoder.decode(raw)
            out.append(chunks[c_index][offset])
        return out

    async def get_tasks(self, run_id: str) -> RunTasks | None:
        """Every task of the run (the whole run: for the lander's summary, not per event)."""
        stored = await self._stored_tasks(run_id)
        if stored is None:
            return None
        if stored.batches is not None:
            return RunTasks(run_id=run_id, batches=stored.batches)
        batches = []
        for b_index, size in enumerate(stored.batch_sizes or []):
            batch = await self.get_dispatches(run_id, b_index, range(size))
            if batch is None:
                return None
            batches.append(batch)
        return RunTasks(run_id=run_id, batches=batches)

    async def _stored_tasks(self, run_id: str) -> _StoredTasks | None:
        if not _VALID_RUN_ID.match(run_id):
            return None
        raw = await self._value(f"{run_id}.tasks")
        return None if raw is None else _stored_tasks_decoder.decode(raw)

    async def _value(self, key: str) -> bytes | None:
        try:
            entry = await self._kv.get(key)
        except KeyNotFoundError:
            return None
        return entry.value

    async def get_replay(self, run_id: str, task_id: str) -> ReplayRecord | None:
        key = self._replay_key(run_id, task_id)
        if key is None:
            return None
        try:
            entry = await self._kv.get(key)
        except KeyNotFoundError:
            return None
        return None if entry.value is None else _replay_decoder.decode(entry.value)

    async def put_replay(self, record: ReplayRecord) -> None:
        key = self._replay_key(record.dispatch.run_id, record.dispatch.task_id)
        if key is None:
            raise ValueError(f"cannot store a replay of task {record.dispatch.task_id!r}")
        await self._kv.put(key, _encoder.encode(record))

    async def get_landing(self, run_id: str) -> LandingInfo | None:
        if not _VALID_RUN_ID.match(run_id):
            return None
        try:
            entry = await self._kv.get(f"{run_id}.landing")
        except KeyNotFoundError:
            return None
        return None if entry.value is None else _landing_decoder.decode(entry.value)

    async def put_landing(self, info: LandingInfo) -> None:
        await self._kv.put(f"{info.run_id}.landing", _encoder.encode(info))

    async def mark_cancelled(self, run_id: str) -> None:
        if _VALID_RUN_ID.match(run_id):
            await self._kv.put(f"{run_id}.cancelled", b"1")

    async def is_cancelled(self, run_id: str) -> bool:
        if not _VALID_RUN_ID.match(run_id):
            return False
        try:
            await self._kv.get(f"{run_id}.cancelled")
        except KeyNotFoundError:
            return False
        return True

    # --- retention: ended runs, forgotten once long ended ------------------------------------
    async def mark_ended(self, run_id: str, at: float) -> None:
        """Record that the run ended at `at` (again, if a replay re-opened it meanwhile)."""
        if _VALID_RUN_ID.match(run_id):
            await self._kv.put(_ended_key(run_id), _encoder.encode(Ended(at=at)))

    async def ended_runs(self) -> list[tuple[str, float]]:
        """Every run recorded as ended, with when: the server lists those keys alone, however
        many other keys the bucket holds, and each mark is read."""
        found: list[tuple[str, float]] = []
        for key in await self._keys(f"{ENDED_PREFIX}.*"):
            run_id = key.partition(".")[2]
            if not _VALID_RUN_ID.match(run_id):
                continue  # not a mark the planner wrote: left alone
            value = await self._value(key)
            if value is None:
                continue  # forgotten between the listing and the read
            try:
                ended = _ended_decoder.decode(value)
            except msgspec.DecodeError:
                continue  # not ours to judge: left alone, as an unknown key
            found.append((run_id, ended.at))
        return found

    async def run_ids(self) -> list[str]:
        """Every run the bucket has progress of (the one-token keys; keys only, not values)."""
        return await self._keys("*")

    async def _keys(self, pattern: str) -> list[str]:
        # Every key the store removes it purges: a listed key holds a value, not a marker.
        return await bucket_keys(self._js, self._bucket, pattern)

    async def backfilled(self) -> bool:
        return await self._value(BACKFILLED_KEY) is not None

    async def set_backfilled(self) -> None:
        await self._kv.put(BACKFILLED_KEY, b"1")

    async def unmark_ended(self, run_id: str) -> None:
        """The run goes on (a replay re-opened it): it is marked again when it ends."""
        await self._purge(_ended_key(run_id))

    async def forget_run(self, run_id: str) -> None:
        """Remove every key of the run, the progress first (from then on the planner knows no
        such run), its mark last (a sweep cut short here finds the run again and finishes).
        A purge leaves no delete marker behind: nothing of the run stays in the bucket."""
        if not _VALID_RUN_ID.match(run_id):
            raise ValueError(f"not a run id: {run_id!r}")
        await self._purge(run_id)
        await self._purge(f"{run_id}.>")
        await self._purge(_ended_key(run_id))

    async def _purge(self, keys: str) -> None:
        await self._js.purge_stream(self._stream, subject=f"{self._subject}.{keys}")

    @staticmethod
    def _replay_key(run_id: str, task_id: str) -> str | None:
        if not (_VALID_RUN_ID.match(run_id) and _VALID_TASK_ID.match(task_id)):
            return None
        return f"{run_id}.replay.{task_id}"

    @staticmethod
    def accepts(run_id: str) -> bool:
        """Whether `run_id` can be stored (ids are uuids; anything else is refused early)."""
        return bool(_VALID_RUN_ID.match(run_id))


def _ended_key(run_id: str) -> str:
    return f"{ENDED_PREFIX}.{run_id}"


def _journal_key(run_id: str, position: int) -> str:
    return f"{run_id}.j.{position}"


def _chunk_key(run_id: str, batch_index: int, chunk_index: int) -> str:
    return f"{run_id}.tasks.{batch_index}.{chunk_index}"


def _decode_snapshot(raw: bytes) -> Snapshot:
    try:
        return _snapshot_decoder.decode(raw)
    except msgspec.ValidationError:  # an older planner stored the progress itself
        return Snapshot(progress=_progress_decoder.decode(raw))
