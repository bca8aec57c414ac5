"""A client's stream from a hub: the history the hub lacks (from a consumer of the client's
own), then the hub's frames, every wake-up's in one write."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, AsyncIterator

from commandcenter_contracts import subjects
from litestar.response import ServerSentEventMessage

from gateway.events.frames import ENDS, REOPENS, Encoded, mark, status_type
from gateway.events.hub import Tap
from gateway.events.sse import Streams, keepalive
from gateway.events.streams import follow


class RunEnd:
    """Whether the run has ended as far as the client has seen: then its stream ends once it
    is caught up. Events may follow a run's end (a killed task's report after
    `run.cancelled`), and a halted run may be resumed by a replay: the stream serves all of
    that, and ends when it is caught up after an end."""

    watches = True

    def __init__(self, ended: bool) -> None:
        self.ended = ended
        self.over = False
        """Caught up after the end: the stream ends."""

    def saw(self, kind: str, caught_up: bool) -> None:
        self.saw_mark(mark(kind), caught_up)

    def saw_mark(self, mark: int, caught_up: bool) -> None:
        if mark == ENDS:
            self.ended = True
        elif mark == REOPENS:
            self.ended = False
        self.over = self.ended and caught_up


class Endless(RunEnd):
    """Every run's events: the stream never ends by itself."""

    watches = False

    def __init__(self) -> None:
        super().__init__(ended=False)

    def saw_mark(self, mark: int, caught_up: bool) -> None:
        pass


async def from_hub(
    streams: Streams, subject: str, after_seq: int, known_seq: int, end: RunEnd
) -> AsyncGenerator[ServerSentEventMessage, None]:
    """The subject's events after `after_seq` (`known_seq`: a sequence of its newest event,
    where a new hub starts), until `end` says the stream is over."""
    async with streams.hubs.tap(
        subjects.STREAM_STATUS, subject, after_seq, known_seq=known_seq
    ) as tap:
        if tap.replay_to > after_seq:
            history = _history(streams, subject, after_seq, tap.replay_to, end)
            async with contextlib.aclosing(history):
                async for event in history:
                    yield event
            if end.over:
                return
        async for event in _live(tap, end, streams.keepalive_s):
            yield event


async def _history(
    streams: Streams, subject: str, after_seq: int, until_seq: int, end: RunEnd
) -> AsyncGenerator[ServerSentEventMessage, None]:
    """The events after `after_seq` up to `until_seq`, where the hub took over (from a
    consumer of the client's own, as history always was)."""
    messages = follow(
        streams.js,
        stream=subjects.STREAM_STATUS,
        subject=subject,
        after_seq=after_seq,
        idle_s=streams.keepalive_s,
    )
    async with contextlib.aclosing(messages):
        async for msg in messages:
            if msg is None:  # the hub's first event is gone (aged out): the hub has the rest
                end.over = end.ended
                if not end.over:
                    yield keepalive()
                return
            seq = msg.metadata.sequence.stream
            if seq > until_seq:
                return  # the hub has it
            kind = status_type(msg.data)
            if kind is not None:
                yield ServerSentEventMessage(
                    id=seq, event=kind, data=msg.data.decode("utf-8", "replace")
                )
                end.saw(kind, caught_up=not msg.metadata.num_pending)
                if end.over:
                    return
            if seq >= until_seq:
                return


async def _live(tap: Tap, end: RunEnd, keepalive_s: float) -> AsyncIterator[ServerSentEventMessage]:
    """The hub's frames, everything new at each wake-up in one write."""
    window = tap.hub.window
    while True:
        if not await tap.wait(keepalive_s):
            if end.ended:
                return  # caught up after the run's end: nothing more is coming
            yield keepalive()
            continue
        if window.is_behind(tap.cursor):
            return  # too far behind: the client reconnects with what it has
        first, last = tap.cursor, window.end
        if tap.skip_to and first < last and window.seqs[first - window.start] <= tap.skip_to:
            first = window.position_after(tap.skip_to, first)
        if end.watches and (
            end.ended or _marked(window.marks, first - window.start, last - window.start)
        ):
            last = _until_over(tap, end, first, last)
        tap.cursor = last
        if first < last:
            base = window.start
            yield Encoded(frames=b"".join(window.frames[first - base : last - base]))
        if end.over or (tap.hub.failed and tap.cursor >= window.end):
            return  # a failed hub: the client reconnects (and gets a working one)


def _marked(marks: list[int], first: int, last: int) -> bool:
    return any(marks[first:last])


def _until_over(tap: Tap, end: RunEnd, first: int, last: int) -> int:
    """Where the frames to send stop: after the one that leaves the client caught up after
    the run's end (`end.over`), else `last`."""
    window = tap.hub.window
    base = window.start
    for position in range(first, last):
        index = position - base
        end.saw_mark(window.marks[index], window.caught_up[index])
        if end.over:
            return position + 1
    return last
