"""Which runs were asked to stop, and the cancel events of the tasks running here.

Cancel requests are core NATS messages on `cc.control.cancel.<run>`, fanned out to every
executor (no queue group): the one running the run's task stops it, the others remember the
run so its queued tasks stop before they start.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict

import msgspec
from commandcenter_contracts import cancel_decoder

log = logging.getLogger(__name__)


class CancelRegistry:
    """Cancel events per run. Remembers the last cancelled runs so their queued tasks stop
    before they start; `shutdown` stops the running task without cancelling its run."""

    def __init__(self, remember: int = 1000) -> None:
        self._events: dict[str, set[asyncio.Event]] = {}
        self._cancelled: OrderedDict[str, str] = OrderedDict()
        self._remember = remember
        self.shutting_down = False

    def register(self, run_id: str) -> asyncio.Event:
        event = asyncio.Event()
        if run_id in self._cancelled or self.shutting_down:
            event.set()
        self._events.setdefault(run_id, set()).add(event)
        return event

    def unregister(self, run_id: str, event: asyncio.Event) -> None:
        events = self._events.get(run_id)
        if events is not None:
            events.discard(event)
            if not events:
                del self._events[run_id]

    def cancel_run(self, run_id: str, reason: str = "") -> bool:
        """Cancel the run's tasks; True if one was running here."""
        self._cancelled[run_id] = reason
        self._cancelled.move_to_end(run_id)
        while len(self._cancelled) > self._remember:
            self._cancelled.popitem(last=False)
        events = self._events.get(run_id, set())
        for event in events:
            event.set()
        return bool(events)

    def is_cancelled(self, run_id: str) -> bool:
        return run_id in self._cancelled

    def shutdown(self) -> None:
        self.shutting_down = True
        for events in self._events.values():
            for event in events:
                event.set()


def apply_cancel_request(data: bytes, registry: CancelRegistry) -> None:
    """Decode a `CancelRequested` and cancel its run here; an unreadable one is ignored."""
    try:
        request = cancel_decoder.decode(data)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        log.warning("ignoring an unreadable cancel request: %s", exc)
        return
    running = registry.cancel_run(request.run_id, request.reason)
    log.info("cancel requested (running here: %s)", running, extra={"run_id": request.run_id})
