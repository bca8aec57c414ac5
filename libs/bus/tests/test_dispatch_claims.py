"""Dispatch claims (`cc_bus.executor.DispatchClaims`) on a real nats-server: which stream
message a dispatch is run from, kept on disk across a restart of the server."""

from __future__ import annotations

import msgspec
import pytest
from cc_bus import connect
from cc_bus.executor import DispatchClaims, claim_key
from cc_bus.executor.claims import BUCKET, CLAIM_TTL_S
from cc_bus.topology import kv_stream
from commandcenter.servers import NatsServer
from commandcenter_contracts import new_id
from nats.js.api import StorageType

from tests.support.executors import task_for

pytestmark = pytest.mark.integration


async def test_a_dispatch_is_its_first_messages_and_stays_so_after_a_server_restart(
    nats_server: NatsServer,
) -> None:
    task = task_for("/repos/app", new_id())
    nc = await connect(nats_server.url, name="claims")
    try:
        claims = await DispatchClaims.open(nc.jetstream())
        assert await claims.take(task, 7)
        assert await claims.take(task, 7)  # a redelivery of the same message
        assert not await claims.take(task, 9)  # the same dispatch, published again
        assert await claims.take(msgspec.structs.replace(task, attempt=2), 9)  # another attempt
        assert await claims.take(task, None)  # not a JetStream message: nothing to go by
        info = await nc.jetstream().stream_info(kv_stream(BUCKET))
        assert info.config.storage == StorageType.FILE
        assert info.config.max_age == CLAIM_TTL_S
    finally:
        await nc.close()

    nats_server.restart()  # JetStream forgets the ids of messages it no longer stores
    nc = await connect(nats_server.url, name="claims-again")
    try:
        claims = await DispatchClaims.open(nc.jetstream())
        assert not await claims.take(task, 9)
        assert await claims.take(task, 7)
    finally:
        await nc.close()


def test_a_claims_key_names_the_task_and_attempt_in_characters_keys_allow() -> None:
    task = task_for("/repos/app", new_id())
    assert claim_key(task) == f"{task.task_id}.1"
    odd = msgspec.structs.replace(task, task_id="a:b/c d", attempt=3)
    assert claim_key(odd) == "a_b_c_d.3"
