"""An executor's presence: its `ExecutorInfo` in the `cc_executors` key-value bucket, written at
start, refreshed every `every_s`, deleted on a clean stop. The bucket's entries expire after
`ttl_s`, so a killed executor disappears on its own. The gateway reads the bucket (`/ready`,
`GET /api/v1/executors`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re

import msgspec
from commandcenter_contracts import ExecutorInfo, encode, subjects, utcnow
from nats.js import JetStreamContext
from nats.js.api import KeyValueConfig, StorageType
from nats.js.errors import BucketNotFoundError, KeyNotFoundError, NotFoundError
from nats.js.kv import KeyValue

from cc_bus.kv_keys import bucket_keys
from cc_bus.topology import open_bucket, patiently

log = logging.getLogger(__name__)

TTL_S = 45.0
EVERY_S = 15.0
_UNSAFE_KEY = re.compile(r"[^-_=a-zA-Z0-9]")
_decoder = msgspec.json.Decoder(ExecutorInfo)


def executor_key(executor_id: str) -> str:
    """A KV key for an executor id (`host:pid` has a `:`, which keys may not)."""
    return _UNSAFE_KEY.sub("_", executor_id) or "executor"


async def executors_bucket(
    js: JetStreamContext, *, ttl_s: float = TTL_S, replicas: int = 1, update: bool = False
) -> KeyValue:
    """The presence bucket, created when missing; `update` (the control plane) also brings
    its replicas to `replicas`, which an executor's NATS user may not do."""
    config = KeyValueConfig(
        bucket=subjects.KV_EXECUTORS,
        history=1,
        ttl=ttl_s,
        storage=StorageType.FILE,
        replicas=replicas,
    )
    return await open_bucket(js, config, update=update)


async def live_executors(js: JetStreamContext) -> list[ExecutorInfo]:
    """Every executor that announced itself within the bucket's TTL, by id."""
    try:
        kv = await js.key_value(subjects.KV_EXECUTORS)
    except BucketNotFoundError:
        return []
    try:
        keys = await bucket_keys(js, subjects.KV_EXECUTORS)
    except NotFoundError:  # the bucket went away since
        return []
    found = []
    # A clean stop deletes its key: listed (the marker is a message), then not found.
    for key in keys:
        with contextlib.suppress(KeyNotFoundError, msgspec.DecodeError):
            entry = await kv.get(key)
            if entry.value:
                found.append(_decoder.decode(entry.value))
    return sorted(found, key=lambda info: info.executor_id)


class Presence:
    def __init__(
        self,
        js: JetStreamContext,
        info: ExecutorInfo,
        *,
        every_s: float = EVERY_S,
        replicas: int = 1,
    ):
        self._js = js
        self._replicas = replicas
        self._info = info
        self._every_s = every_s
        self._key = executor_key(info.executor_id)
        self._kv: KeyValue | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._kv = await executors_bucket(self._js, replicas=self._replicas)
        # A bucket just made may have no leader for a moment (replicated, on a cluster).
        await patiently(self._put, "announcing this executor")
        self._task = asyncio.create_task(self._refresh())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._kv is not None:
            with contextlib.suppress(Exception):
                await self._kv.delete(self._key)

    async def _put(self) -> None:
        assert self._kv is not None
        info = msgspec.structs.replace(self._info, seen_at=utcnow())
        await self._kv.put(self._key, encode(info))

    async def _refresh(self) -> None:
        while True:
            await asyncio.sleep(self._every_s)
            try:
                await self._put()
            except Exception as exc:  # NATS away for a moment: the next refresh catches up
                log.warning("could not refresh this executor's presence: %s", exc)
