"""Many SSE clients of one run's event stream in one process, each noting when every
numbered `task.progress` event reached it — cheaply enough that the readers are not what
limits the measurement.

A reader does not parse the stream: it reads raw bytes from its socket, notes the clock once
per read, and finds the events' numbers in the complete lines read so far with one regular
expression (C speed). The events are benchmark 3's: `message` is the event's number, so an
arrival is stored at its index. Its process reports the CPU time it used between the readers
being ready and the last stream's end, so the run can show whether readers were the
bottleneck.
"""

from __future__ import annotations

import asyncio
import math
import re
import time
from array import array
from dataclasses import dataclass
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event as ProcessEvent
from typing import Any
from urllib.parse import urlsplit

NUMBERED = re.compile(rb'"message":"(\d+)"')
STARTED = b"event: run.accepted"
ENDED = b"event: run.succeeded"


@dataclass
class ReadersResult:
    arrivals: list[array[float]]
    """Per reader, the UNIX time each event arrived (NaN: never), by event number."""
    cpu_s: float
    """CPU time of the readers' process from ready until every stream ended."""
    wall_s: float


def now() -> float:
    """The wall clock as a UNIX timestamp: the clock an event's `at` is set from."""
    return time.time()


async def read_stream(url: str, token: str, arrivals: array[float], started: asyncio.Event) -> None:
    """Follow one SSE stream until the run's end; `started` once it has the run's first
    event (the client is following)."""
    where = urlsplit(url)
    reader, writer = await asyncio.open_connection(where.hostname, where.port)
    try:
        writer.write(
            (
                f"GET {where.path} HTTP/1.1\r\nHost: {where.netloc}\r\n"
                f"Accept: text/event-stream\r\nAuthorization: Bearer {token}\r\n\r\n"
            ).encode()
        )
        head = await reader.readuntil(b"\r\n\r\n")
        status = head.split(b" ", 2)[1]
        if status != b"200":
            raise RuntimeError(f"SSE: HTTP {status.decode()}")
        pending = b""
        while True:
            data = await reader.read(1 << 16)
            arrived = now()
            if not data:
                raise RuntimeError("SSE: the stream ended before the run did")
            pending += data
            cut = pending.rfind(b"\n") + 1
            if not cut:
                continue
            lines, pending = pending[:cut], pending[cut:]
            for match in NUMBERED.finditer(lines):
                index = int(match.group(1))
                if math.isnan(arrivals[index]):
                    arrivals[index] = arrived
            if not started.is_set() and STARTED in lines:
                started.set()
            if ENDED in lines:
                return
    finally:
        writer.close()


async def read_all(
    url: str, token: str, clients: int, events: int, ready: ProcessEvent
) -> ReadersResult:
    arrivals = [array("d", [math.nan]) * events for _ in range(clients)]
    started = [asyncio.Event() for _ in range(clients)]
    readers = [
        asyncio.create_task(read_stream(url, token, arrivals[k], started[k]))
        for k in range(clients)
    ]
    # Every stream followed, or a reader failed first (its error ends the process).
    waiting: asyncio.Future[Any] = asyncio.ensure_future(
        asyncio.gather(*(s.wait() for s in started))
    )
    done, _ = await asyncio.wait([waiting, *readers], return_when=asyncio.FIRST_COMPLETED)
    if waiting not in done:
        waiting.cancel()
        await asyncio.gather(*readers)
    cpu0, wall0 = time.process_time(), time.monotonic()
    ready.set()
    await asyncio.gather(*readers)
    return ReadersResult(arrivals, time.process_time() - cpu0, time.monotonic() - wall0)


def run_readers(
    url: str,
    token: str,
    clients: int,
    events: int,
    ready: ProcessEvent,
    out: Queue[ReadersResult | str],
) -> None:
    """A process's body: `clients` readers of `url`; puts its result (or what failed)."""
    try:
        out.put(asyncio.run(read_all(url, token, clients, events, ready)))
    except Exception as exc:
        out.put(f"SSE: {type(exc).__name__}: {exc}")
