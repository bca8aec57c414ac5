"""Run progress in a JetStream key-value bucket (`subjects.KV_PLANNER_RUNS`).

Layout, one bucket, per run:
- `<run_id>`        → `RunProgress` (JSON), rewritten on every change with compare-and-set
                      on the entry's revision, so two writers can never lose each other's update;
- `<run_id>.tasks`  → `RunTasks` (JSON), every task's first dispatch, written once before the
                      progress (a progress entry therefore always has its tasks);
- `<run_id>.replay.<task_id>` → `ReplayRecord` (JSON): the task's last replayed dispatch and
                      the request that made it (the next replay starts from it);
- `<run_id>.cancelled` → present once the run was cancelled, even if that happened before the
                      planner planned it (then it never will);
- `<run_id>.landing` → `LandingInfo` (JSON), for runs that land as a pull request or a merge:
                      what the lander needs (repository, base, integration branch, title).
History 1, file storage: the bucket is the planner's only state and survives restarts.
"""

from __future__ import annotations

import re

import msgspec
from cc_bus.topology import create_bucket, ensure_replicas, kv_stream, patiently
from nats.js import JetStreamContext
from nats.js.api import KeyValueConfig, StorageType
from nats.js.errors import BucketNotFoundError, KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue

from planner.domain.landing import LandingInfo
from planner.domain.planning import RunTasks
from planner.domain.progress import RunProgress
from planner.domain.replay import ReplayRecord

_VALID_RUN_ID = re.compile(r"^[-_=a-zA-Z0-9]+$")
"""A run id that can be a KV key by itself (no `.`: that separates our own suffixes)."""

_progress_decoder = msgspec.json.Decoder(RunProgress)
_tasks_decoder = msgspec.json.Decoder(RunTasks)
_replay_decoder = msgspec.json.Decoder(ReplayRecord)
_landing_decoder = msgspec.json.Decoder(LandingInfo)
_VALID_TASK_ID = _VALID_RUN_ID
_encoder = msgspec.json.Encoder()


class StoreConflict(Exception):
    """Someone else updated the run's progress since it was read: reload and re-apply."""


class Stored(msgspec.Struct, frozen=True, kw_only=True):
    progress: RunProgress
    revision: int


class ProgressStore:
    def __init__(self, kv: KeyValue) -> None:
        self._kv = kv

    @classmethod
    async def open(cls, js: JetStreamContext, bucket: str, *, replicas: int = 1) -> ProgressStore:
        """Bind to the bucket, creating it on first start, with `replicas` copies."""
        try:
            kv = await patiently(lambda: js.key_value(bucket), f"bucket {bucket}")
        except BucketNotFoundError:
            config = KeyValueConfig(
                bucket=bucket, history=1, storage=StorageType.FILE, replicas=replicas
            )
            kv = await create_bucket(js, config)
        else:
            await ensure_replicas(js, kv_stream(bucket), replicas)
        return cls(kv)

    async def get(self, run_id: str) -> Stored | None:
        """The run's progress and its revision; None for a run the planner never planned."""
        if not _VALID_RUN_ID.match(run_id):
            return None
        try:
            entry = await self._kv.get(run_id)
        except KeyNotFoundError:
            return None
        if entry.value is None or entry.revision is None:
            return None
        return Stored(progress=_progress_decoder.decode(entry.value), revision=entry.revision)

    async def create(self, progress: RunProgress) -> bool:
        """Store a new run's progress; False when the run already has one (a redelivery)."""
        try:
            await self._kv.create(progress.run_id, _encoder.encode(progress))
        except KeyWrongLastSequenceError:
            return False
        return True

    async def put(self, progress: RunProgress, revision: int) -> int:
        """Replace the progress read at `revision`; `StoreConflict` if it changed since."""
        try:
            return await self._kv.update(progress.run_id, _encoder.encode(progress), last=revision)
        except KeyWrongLastSequenceError as exc:
            raise StoreConflict(progress.run_id) from exc

    async def get_tasks(self, run_id: str) -> RunTasks | None:
        if not _VALID_RUN_ID.match(run_id):
            return None
        try:
            entry = await self._kv.get(f"{run_id}.tasks")
        except KeyNotFoundError:
            return None
        return None if entry.value is None else _tasks_decoder.decode(entry.value)

    async def put_tasks(self, tasks: RunTasks) -> None:
        await self._kv.put(f"{tasks.run_id}.tasks", _encoder.encode(tasks))

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

    @staticmethod
    def _replay_key(run_id: str, task_id: str) -> str | None:
        if not (_VALID_RUN_ID.match(run_id) and _VALID_TASK_ID.match(task_id)):
            return None
        return f"{run_id}.replay.{task_id}"

    @staticmethod
    def accepts(run_id: str) -> bool:
        """Whether `run_id` can be stored (ids are uuids; anything else is refused early)."""
        return bool(_VALID_RUN_ID.match(run_id))
