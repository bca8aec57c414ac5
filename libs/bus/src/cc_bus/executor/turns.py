"""Integration turns across executor replicas, in the `cc_integration_turns` key-value bucket.

Replicas that finish tasks of one run together would all fetch the integration branch, combine
and push, and all but one would lose the compare-and-set and do it all again: each round is a
fetch and a push (network round trips against a forge), the rounds grow with the number of
replicas, and an integrator that loses `MAX_RACES` rounds fails its attempt. Instead they take
turns: one entry per integration branch says who holds it, until when, and where the last
holder left the branch (so the next one does not push a guess known to be stale).

The turn is advisory: the compare-and-set still decides every push. So nothing waits on it for
long: a holder that died is waited for until its lease (`LEASE_S`) runs out; a waiter gives up
after `MAX_WAIT_S` and integrates anyway; a cancelled task stops waiting; when the bus does not
answer, the integrator goes on without the turn.

Taking a turn: subscribe to the entry's subject (every write to it is published there), then
read the entry. Free, or its lease over: take it with a compare-and-set on that revision. Held:
wait until something is written to it (the holder giving it back) or the lease ends, and look
again. Giving it back: write it free, with the tip, on the revision taken; a lease that ran out
and was taken by another meanwhile is left alone.

The bucket is in memory (a turn is worth nothing after a restart of the server) and each
entry goes an hour after its last write (`KEEP_S`): a finished run leaves nothing behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import msgspec
from commandcenter_contracts import subjects
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import KeyValueConfig, StorageType
from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue

from cc_bus.topology import open_bucket

log = logging.getLogger(__name__)

BUCKET = subjects.KV_INTEGRATION_TURNS
LEASE_S = 30.0
"""How long a turn is held at most: a holder that died blocks the branch no longer than this.
A turn is held for a fetch, a combination and a push; one that takes longer only lets the
next integrator in early (the compare-and-set then decides)."""
MAX_WAIT_S = 600.0
"""How long an integrator waits for its turn before it integrates without one."""
KEEP_S = 3600.0
"""The bucket's entries go this long after their last write."""
ASK_TIMEOUT_S = 2.0
"""How long one question to the bucket may take before the turn is given up on."""


class _Entry(msgspec.Struct, frozen=True):
    holder: str = ""
    """Who holds the turn ("" when free)."""
    until: float = 0.0
    """When the holder's lease ends (seconds since the epoch: replicas compare it)."""
    tip: str | None = None
    """Where the last holder left the branch."""


_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder(_Entry).decode


@dataclass
class HeldTurn:
    """A turn as its holder sees it (`cc_taskrunner.ports.Turn`)."""

    tip: str | None = None


def entry_key(name: str) -> str:
    """A key for an integration branch's name (any text: a repository URL, a branch)."""
    return hashlib.sha256(name.encode()).hexdigest()[:40]


async def turns_bucket(
    js: JetStreamContext, *, replicas: int = 1, update: bool = False
) -> KeyValue:
    """The turns bucket, created when missing; `update` (the planner) also brings its
    replicas to `replicas`, which an executor's NATS user may not do."""
    config = KeyValueConfig(
        bucket=BUCKET, history=1, ttl=KEEP_S, storage=StorageType.MEMORY, replicas=replicas
    )
    return await open_bucket(js, config, update=update)


class IntegrationTurns:
    """`cc_taskrunner.ports.Turns` for executor replicas sharing one NATS."""

    def __init__(
        self,
        nc: Client,
        kv: KeyValue,
        holder: str,
        *,
        lease_s: float = LEASE_S,
        max_wait_s: float = MAX_WAIT_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._nc = nc
        self._kv = kv
        self._holder = holder
        self._lease_s = lease_s
        self._max_wait_s = max_wait_s
        self._clock = clock

    @classmethod
    async def open(cls, nc: Client, holder: str, *, replicas: int = 1) -> IntegrationTurns:
        return cls(nc, await turns_bucket(nc.jetstream(), replicas=replicas), holder)

    @contextlib.asynccontextmanager
    async def hold(self, key: str, cancel: asyncio.Event) -> AsyncIterator[HeldTurn]:
        name = entry_key(key)
        taken = await self._take(name, cancel)
        turn = HeldTurn(tip=taken[1].tip if taken is not None else None)
        try:
            yield turn
        finally:
            if taken is not None:
                await self._give_back(name, taken[0], turn.tip)

    async def _take(self, name: str, cancel: asyncio.Event) -> tuple[int, _Entry] | None:
        """The turn (its revision, the entry as taken); None: go on without it."""
        written = asyncio.Event()

        async def heard(_: Msg) -> None:
            written.set()

        try:
            sub = await self._nc.subscribe(f"$KV.{BUCKET}.{name}", cb=heard)
        except Exception as exc:
            log.warning("integration turns unavailable (%s): integrating without one", exc)
            return None
        loop = asyncio.get_running_loop()
        give_up_at = loop.time() + self._max_wait_s
        try:
            while not cancel.is_set():
                written.clear()  # set again by any write from here on: none is missed
                try:
                    found = await asyncio.wait_for(self._try_take(name), ASK_TIMEOUT_S)
                except Exception as exc:
                    log.warning("integration turns unavailable (%s): integrating without one", exc)
                    return None
                if isinstance(found, tuple):
                    return found
                left = give_up_at - loop.time()
                if left <= 0:
                    log.warning(
                        "waited %.0fs for the integration turn (held by %s): integrating "
                        "without it",
                        self._max_wait_s,
                        found.holder,
                    )
                    return None
                lease_left = max(found.until - self._clock(), 0.0) + 0.05
                await _first_of(written, cancel, within_s=min(lease_left, left))
            return None
        finally:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()

    async def _try_take(self, name: str) -> tuple[int, _Entry] | _Entry:
        """Take the turn if it is free (or its lease is over); else the entry holding it."""
        now = self._clock()
        try:
            entry = await self._kv.get(name)
        except KeyNotFoundError:  # never taken, gone after KEEP_S, or deleted
            entry = None
        current = _decode(entry.value) if entry is not None and entry.value else _Entry()
        if current.holder and current.until > now:
            return current
        mine = _Entry(holder=self._holder, until=now + self._lease_s, tip=current.tip)
        try:
            if entry is None:
                revision = await self._kv.create(name, _encode(mine))
            else:
                revision = await self._kv.update(name, _encode(mine), last=entry.revision)
        except KeyWrongLastSequenceError:  # another took it first
            return _Entry(holder="another replica", until=now + self._lease_s, tip=current.tip)
        return revision, mine

    async def _give_back(self, name: str, revision: int, tip: str | None) -> None:
        free = _encode(_Entry(tip=tip))
        try:
            await asyncio.wait_for(self._kv.update(name, free, last=revision), ASK_TIMEOUT_S)
        except KeyWrongLastSequenceError:
            pass  # the lease ran out and another holds the turn now: it is theirs
        except Exception as exc:  # the lease ends on its own
            log.warning("could not give the integration turn back: %s", exc)


async def _first_of(a: asyncio.Event, b: asyncio.Event, *, within_s: float) -> None:
    """Wait until `a` or `b` is set, or `within_s` seconds."""
    waits = [asyncio.ensure_future(a.wait()), asyncio.ensure_future(b.wait())]
    try:
        await asyncio.wait(waits, timeout=within_s, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for wait in waits:
            wait.cancel()
