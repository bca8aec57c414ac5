"""An executor's side of the bus, the same in every executor, whatever runs its tasks.

`start`: connect, make the streams and the executor's durable match its spec (an existing
durable is updated), listen for cancel requests (core NATS: every executor hears every one),
announce the executor (`Presence`), open the integration turns it shares with other replicas
(`IntegrationTurns`, if asked to) and the dispatch claims (`DispatchClaims`), and consume the
durable with `cc_bus.Consumer`, each message through the `TaskMessageHandler` into the
executor's `RunTask`.

How running tasks end on a stop is the executor's own policy (one task handed back at once,
or a drain): it stops `consumer` and uses `cancels` before `close` takes the rest down.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import KW_ONLY, dataclass, field
from typing import Protocol

from commandcenter_contracts import ExecutorInfo, TaskDispatched, subjects
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from cc_bus.connect import NatsAuth, close, connect
from cc_bus.consume import Consumer
from cc_bus.executor.cancels import CancelRegistry, apply_cancel_request
from cc_bus.executor.claims import DispatchClaims
from cc_bus.executor.delivery import DeliverySettings
from cc_bus.executor.handler import RunTask, TaskMessageHandler, decode_task
from cc_bus.executor.presence import Presence
from cc_bus.executor.retries import SkillRules
from cc_bus.executor.turns import IntegrationTurns
from cc_bus.topology import ConsumerSpec, ensure_consumer, ensure_streams


class BusSettings(Protocol):
    """The settings every executor has for its side of the bus."""

    @property
    def nats_url(self) -> str: ...

    @property
    def nats_auth(self) -> NatsAuth: ...

    @property
    def executor_id(self) -> str:
        """The connection's and the consumer's name."""
        ...

    @property
    def delivery(self) -> DeliverySettings: ...

    @property
    def stream_replicas(self) -> int: ...


@dataclass(eq=False)
class ExecutorBus:
    settings: BusSettings
    spec: ConsumerSpec
    _: KW_ONLY
    run: RunTask
    describe: Callable[[], ExecutorInfo]
    """What the executor announces; called off the event loop (it may look for programs)."""
    rules: SkillRules | None = None
    slots: int = 1
    """Tasks run at once (no more messages are held)."""
    integration_turns: bool = False
    """Take turns integrating with other replicas (`turns`, from `start` on)."""
    turns: IntegrationTurns | None = field(default=None, init=False)
    cancels: CancelRegistry = field(default_factory=CancelRegistry, init=False)
    consumer: Consumer[TaskDispatched] | None = field(default=None, init=False)
    consuming: asyncio.Task[None] | None = field(default=None, init=False)
    """The consumer's loop, from `start` on."""
    _nc: Client | None = field(default=None, init=False, repr=False)
    _cancel_sub: Subscription | None = field(default=None, init=False, repr=False)
    _presence: Presence | None = field(default=None, init=False, repr=False)

    async def start(self) -> None:
        name, delivery = self.settings.executor_id, self.settings.delivery
        self._nc = await connect(self.settings.nats_url, name=name, auth=self.settings.nats_auth)
        js = self._nc.jetstream()
        replicas = self.settings.stream_replicas
        await ensure_streams(js, update=False, replicas=replicas)  # the control plane reconciles
        await ensure_consumer(js, self.spec)
        self._cancel_sub = await self._nc.subscribe(subjects.CONTROL_CANCEL_ALL, cb=self._on_cancel)
        self._presence = Presence(js, await asyncio.to_thread(self.describe), replicas=replicas)
        await self._presence.start()
        if self.integration_turns:
            self.turns = await IntegrationTurns.open(self._nc, name, replicas=replicas)
        handler = TaskMessageHandler(
            js,
            self.run,
            self.cancels,
            await DispatchClaims.open(js, replicas=replicas),
            retry_delay_s=delivery.retry_delay_s,
            retry=delivery.retry,
            rules=self.rules,
        )
        self.consumer = Consumer(
            js,
            self.spec,
            decode=decode_task,
            handle=handler.handle,
            slots=self.slots,
            heartbeat_s=delivery.heartbeat_s,
            retry_delay=lambda _: delivery.retry_delay_s,
            name=name,
        )
        self.consuming = asyncio.create_task(self.consumer.run())

    async def close(self) -> None:
        """Withdraw the presence, stop listening for cancels, close the connection."""
        if self._presence is not None:
            await self._presence.stop()
        if self._cancel_sub is not None:
            with contextlib.suppress(Exception):
                await self._cancel_sub.unsubscribe()
        nc, self._nc = self._nc, None
        await close(nc)

    async def _on_cancel(self, msg: Msg) -> None:
        apply_cancel_request(msg.data, self.cancels)
