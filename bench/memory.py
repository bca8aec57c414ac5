"""Peak memory of the stack's processes while a benchmark runs.

A Python service's peak is the kernel's high-water mark (`VmHWM`, exact) where /proc exists,
else the highest RSS sampled. PostgreSQL is many processes sharing one buffer pool, so its
figure is the highest sampled sum of PSS (shared pages divided among their users), which
counts the shared memory once.
"""

from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass, field
from pathlib import Path

import psutil
from commandcenter.stack import Stack

SAMPLE_EVERY_S = 0.1
PSS_EVERY = 5
"""PSS reads /proc/<pid>/smaps_rollup: every 5th sample is plenty for a slow-moving sum."""


@dataclass
class Watched:
    name: str
    pid: int
    peak_bytes: int = 0


@dataclass
class MemoryWatch:
    """Samples the stack's processes on a thread from `start()` until `stop()`."""

    processes: list[Watched]
    postgres_data_dir: Path | None = None
    postgres_peak_bytes: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    @classmethod
    def of(cls, stack: Stack) -> MemoryWatch:
        watched = [
            Watched(sup.spec.name, sup.process.pid)
            for sup in stack.services
            if sup.process is not None
        ]
        if stack.nats is not None and stack.nats.process is not None:
            watched.append(Watched("nats-server", stack.nats.process.pid))
        pg_dir = stack.postgres.data_dir if stack.postgres is not None else None
        return cls(watched, pg_dir)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="memory-watch", daemon=True)
        self._thread.start()

    def stop(self) -> dict[str, float]:
        """Stop sampling; peak MiB per process name (and `postgresql`, all its processes)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._sample(with_pss=True)
        for proc in self.processes:
            proc.peak_bytes = max(proc.peak_bytes, _high_water_mark(proc.pid))
        peaks = {p.name: p.peak_bytes / 2**20 for p in self.processes if p.peak_bytes}
        if self.postgres_peak_bytes:
            peaks["postgresql"] = self.postgres_peak_bytes / 2**20
        return peaks

    def _loop(self) -> None:
        tick = 0
        while not self._stop.wait(SAMPLE_EVERY_S):
            self._sample(with_pss=tick % PSS_EVERY == 0)
            tick += 1

    def _sample(self, *, with_pss: bool) -> None:
        for proc in self.processes:
            with contextlib.suppress(psutil.Error):
                rss = int(psutil.Process(proc.pid).memory_info().rss)
                proc.peak_bytes = max(proc.peak_bytes, rss)
        if with_pss and self.postgres_data_dir is not None:
            self.postgres_peak_bytes = max(self.postgres_peak_bytes, self._postgres_pss())

    def _postgres_pss(self) -> int:
        assert self.postgres_data_dir is not None
        try:
            pid = int((self.postgres_data_dir / "postmaster.pid").read_text().split()[0])
            postmaster = psutil.Process(pid)
            members = [postmaster, *postmaster.children(recursive=True)]
        except (OSError, ValueError, IndexError, psutil.Error):
            return 0
        total = 0
        for member in members:
            with contextlib.suppress(psutil.Error, AttributeError):
                total += int(member.memory_full_info().pss)
        return total


def _high_water_mark(pid: int) -> int:
    """`VmHWM` of a live process, in bytes; 0 where /proc has none."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0
