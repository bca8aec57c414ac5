"""How much output one task attempt may publish: a runaway agent (or a check printing in a
loop) must not fill the log stream, evict every other task's log from it, or flood the
clients following it.

Each line is cut to `max_line_bytes`; once an attempt has published `max_lines` lines or
`max_bytes` bytes, one marker line says so and the rest is dropped (the agent goes on, and its
outcome still arrives). Plain logic: the `Reporter` asks before it publishes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

TRUNCATED = "[output truncated]"


@dataclass(frozen=True, kw_only=True)
class OutputLimits:
    max_lines: int = 50_000
    """`CC_TASK_LOG_MAX_LINES`."""
    max_bytes: int = 16 << 20
    """`CC_TASK_LOG_MAX_BYTES`."""
    max_line_bytes: int = 16 << 10
    """`CC_LOG_LINE_MAX_BYTES`: well under NATS's default 1 MiB message, escapes and all."""


@dataclass(frozen=True)
class Admitted:
    line: str
    marker: bool = False
    """The line saying the budget ran out (published as a `system` line)."""


@dataclass
class OutputBudget:
    """The output one attempt has left."""

    limits: OutputLimits
    lines: int = 0
    size: int = 0
    dropped: int = 0
    _exhausted: bool = field(default=False, repr=False)

    def admit(self, line: str) -> Admitted | None:
        """What to publish for `line`: itself (cut when too long), or, the first time the
        budget runs out, the marker line; None once it has."""
        if self._exhausted:
            self.dropped += 1
            return None
        line = self._cut(line)
        size = len(line.encode("utf-8", errors="replace")) + 1
        limits = self.limits
        if self.lines + 1 > limits.max_lines or self.size + size > limits.max_bytes:
            self._exhausted = True
            self.dropped += 1
            return Admitted(
                f"{TRUNCATED} this attempt's output reached its limit ({limits.max_lines} "
                f"lines or {limits.max_bytes} bytes: CC_TASK_LOG_MAX_LINES, "
                f"CC_TASK_LOG_MAX_BYTES); the rest is not published, the task goes on",
                marker=True,
            )
        self.lines += 1
        self.size += size
        return Admitted(line)

    def _cut(self, line: str) -> str:
        data = line.encode("utf-8", errors="replace")
        limit = self.limits.max_line_bytes
        if len(data) <= limit:
            return line
        kept = data[:limit].decode("utf-8", errors="ignore")
        more = len(data) - limit
        return f"{kept} {TRUNCATED} ({more} more bytes of this line: CC_LOG_LINE_MAX_BYTES)"
