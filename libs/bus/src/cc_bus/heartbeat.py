"""In-progress acks while a message is worked on, so JetStream never redelivers it meanwhile."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

log = logging.getLogger(__name__)


@contextlib.asynccontextmanager
async def heartbeat(beat: Callable[[], Awaitable[None]], interval_s: float) -> AsyncIterator[None]:
    """Call `beat` (e.g. `msg.in_progress`) every `interval_s` until the block ends."""

    async def loop() -> None:
        while True:
            await asyncio.sleep(interval_s)
            try:
                await beat()
            except Exception as exc:  # NATS away for a moment: the next beat may get through
                log.warning("in-progress ack failed: %s", exc)

    task = asyncio.create_task(loop())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
