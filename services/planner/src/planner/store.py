"""Run progress in a JetStream key-value bucket (`subjects.KV_PLANNER_RUNS`).

Layout, one bucket, two keys per run:
- `<run_id>`        → `RunProgress` (JSON), rewritten on every change with compare-and-set
                      on the entry's revision, so two writers can never lose each other's update;
- `<run_id>.tasks`  → `RunTasks` (JSON), every task's first dispatch, written once before the
                      progress (a progress entry therefore always has its tasks).
History 1, file storage: the bucket is the planner's only state and survives restarts.
"""

from __future__ import annotations

import re

import msgspec
from nats.js import JetStreamContext
from nats.js.api import KeyValueConfig, StorageType
from nats.js.errors import BucketNotFoundError, KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue

from planner.domain.planning import RunTasks
from planner.domain.progress import RunProgress

_VALID_RUN_ID = re.compile(r"^[-_=a-zA-Z0-9]+$")
"""A run id that can be a KV key by itself (no `.`: that separates our own suffixes)."""

_progress_decoder = msgspec.json.Decoder(RunProgress)
_tasks_decoder = msgspec.json.Decoder(RunTasks)
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
    async def open(cls, js: JetStreamContext, bucket: str) -> ProgressStore:
        """Bind to the bucket, creating it on first start."""
        try:
            kv = await js.key_value(bucket)
        except BucketNotFoundError:
            kv = await js.create_key_value(
                config=KeyValueConfig(bucket=bucket, history=1, storage=StorageType.FILE)
            )
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

    @staticmethod
    def accepts(run_id: str) -> bool:
        """Whether `run_id` can be stored (ids are uuids; anything else is refused early)."""
        return bool(_VALID_RUN_ID.match(run_id))
