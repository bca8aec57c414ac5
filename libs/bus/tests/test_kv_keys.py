"""Listing a bucket's keys (`cc_bus.kv_keys`) and the executors' presence built on it, on a
real nats-server."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from cc_bus import connect, kv_keys
from cc_bus.executor import Presence, executors_bucket, live_executors
from cc_bus.kv_keys import TooManyKeys, bucket_keys
from commandcenter.servers import NatsServer
from commandcenter_contracts import ExecutionMode, ExecutorInfo
from nats.aio.client import Client
from nats.js.api import KeyValueConfig
from nats.js.kv import KeyValue

pytestmark = pytest.mark.integration


@pytest.fixture
async def nc(nats_server: NatsServer) -> AsyncIterator[Client]:
    client = await connect(nats_server.url, name="kv-keys-test")
    yield client
    await client.close()


async def _bucket(nc: Client, name: str) -> KeyValue:
    return await nc.jetstream().create_key_value(KeyValueConfig(bucket=name, history=1))


async def test_lists_the_matching_keys_sorted_and_nothing_of_an_empty_bucket(nc: Client) -> None:
    js = nc.jetstream()
    kv = await _bucket(nc, "keys_listing")
    assert await bucket_keys(js, "keys_listing") == []

    for key in ("run-b", "run-a", "run-a.j.1", "run-a.j.2", "ended/.run-a"):
        await kv.put(key, b"1")
    assert await bucket_keys(js, "keys_listing") == [
        "ended/.run-a",
        "run-a",
        "run-a.j.1",
        "run-a.j.2",
        "run-b",
    ]
    assert await bucket_keys(js, "keys_listing", "*") == ["run-a", "run-b"]
    assert await bucket_keys(js, "keys_listing", "ended/.*") == ["ended/.run-a"]
    assert await bucket_keys(js, "keys_listing", "run-a.>") == ["run-a.j.1", "run-a.j.2"]

    # A purge removes the key's messages (nothing listed); a delete leaves its marker.
    await js.purge_stream("KV_keys_listing", subject="$KV.keys_listing.run-a.>")
    await kv.delete("run-b")
    assert await bucket_keys(js, "keys_listing") == ["ended/.run-a", "run-a", "run-b"]


async def test_a_key_is_listed_as_soon_as_it_is_written(nc: Client) -> None:
    """Every listing follows its write at once. nats-py's watcher-based `keys()` came back
    empty here now and then on a slow machine; this cannot force that timing, so it guards
    the listing's answer, not the race itself (the race is gone by construction: one reply)."""
    js = nc.jetstream()
    kv = await _bucket(nc, "keys_at_once")
    for i in range(40):
        await kv.put(f"k{i:02d}", b"v")
        assert await bucket_keys(js, "keys_at_once") == [f"k{n:02d}" for n in range(i + 1)]


async def test_more_keys_than_one_reply_lists_are_refused_not_listed_in_part(
    nc: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    js = nc.jetstream()
    kv = await _bucket(nc, "keys_page")
    for key in ("a", "b", "c"):
        await kv.put(key, b"1")
    monkeypatch.setattr(kv_keys, "SERVER_PAGE", 3)  # the server's page, made small
    with pytest.raises(TooManyKeys, match="keys_page"):
        await bucket_keys(js, "keys_page")
    assert await bucket_keys(js, "keys_page", "a") == ["a"]


async def test_live_executors_lists_the_running_not_the_stopped(nc: Client) -> None:
    js = nc.jetstream()
    assert await live_executors(js) == []  # no bucket at all

    await executors_bucket(js)
    assert await live_executors(js) == []
    running = Presence(js, ExecutorInfo(executor_id="host-a:1", mode=ExecutionMode.LOCAL))
    stopped = Presence(js, ExecutorInfo(executor_id="host-b:2", mode=ExecutionMode.LOCAL))
    await running.start()
    await stopped.start()
    assert [e.executor_id for e in await live_executors(js)] == ["host-a:1", "host-b:2"]

    await stopped.stop()  # deletes its key: a marker that lists, and reads as gone
    assert [e.executor_id for e in await live_executors(js)] == ["host-a:1"]
    await running.stop()
    assert await live_executors(js) == []
