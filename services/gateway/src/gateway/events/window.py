"""The newest events of one subject as SSE frames, shared by every client following it.

Positions are absolute: they go on counting when old frames are dropped, so a client's cursor
(the position of the next frame it has not sent) stays valid. Parallel lists rather than one
object per frame: a client takes a run of frames with a slice and one `bytes.join`.
"""

from __future__ import annotations

import bisect


class Window:
    def __init__(self, limit: int, after_seq: int) -> None:
        self.limit = limit
        """Frames kept at least: a client further behind than this is dropped."""
        self.start = 0
        """The position of the oldest frame kept."""
        self.after_seq = after_seq
        """Every event of the subject with a greater sequence is here (or still to come)."""
        self.seqs: list[int] = []
        self.frames: list[bytes] = []
        self.marks: list[int] = []
        self.caught_up: list[bool] = []
        """Per frame: nothing was pending on the subject when it arrived."""

    @property
    def end(self) -> int:
        """The position the next frame will get."""
        return self.start + len(self.frames)

    def append(self, seq: int, frame: bytes, mark: int, caught_up: bool) -> None:
        self.seqs.append(seq)
        self.frames.append(frame)
        self.marks.append(mark)
        self.caught_up.append(caught_up)
        if len(self.frames) >= 2 * self.limit:  # trimmed in bulk, not one frame at a time
            drop = len(self.frames) - self.limit
            self.after_seq = self.seqs[drop - 1]
            del self.seqs[:drop], self.frames[:drop], self.marks[:drop], self.caught_up[:drop]
            self.start += drop

    def holds_after(self, seq: int) -> bool:
        """Whether every event after `seq` is here (or still to come)."""
        return seq >= self.after_seq

    def position_after(self, seq: int, lo: int | None = None) -> int:
        """The position of the first frame with a sequence greater than `seq` (from `lo`)."""
        low = 0 if lo is None else max(0, lo - self.start)
        return self.start + bisect.bisect_right(self.seqs, seq, low)

    def is_behind(self, cursor: int) -> bool:
        """A client at `cursor` fell too far behind: it ends, and resumes by reconnecting."""
        return cursor < self.start or self.end - cursor > self.limit
