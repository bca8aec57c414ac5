"""What the figures were measured on: CPU, cores, memory, OS and tool versions."""

from __future__ import annotations

import contextlib
import os
import platform
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from commandcenter.servers import nats_server_binary


@dataclass(frozen=True)
class Machine:
    cpu: str
    cores: int
    memory_gib: float
    python: str
    kernel: str
    git: str
    nats_server: str

    def describe(self) -> str:
        return (
            f"{self.cpu}, {self.cores} cores, {self.memory_gib:.1f} GiB RAM; "
            f"Python {self.python}; {platform.system()} {self.kernel}; "
            f"{self.git}; nats-server {self.nats_server}"
        )

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.partition(":")[2].strip()
    return platform.processor() or platform.machine()


def _memory_gib() -> float:
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / (1024 * 1024)
    return 0.0


def _version(argv: list[str]) -> str:
    try:
        result = subprocess.run(  # noqa: S603 - fixed argv
            argv, capture_output=True, text=True, timeout=10, check=False
        )
    except OSError:
        return "unknown"
    return result.stdout.strip() or "unknown"


def load_average() -> float:
    """The 1-minute load average: other work on the machine inflates every figure."""
    try:
        return os.getloadavg()[0]
    except OSError:
        return float("nan")


def _cpu_times() -> tuple[int, int] | None:
    """(busy, total) jiffies of all CPUs since boot, from /proc/stat."""
    try:
        fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    except (OSError, ValueError, IndexError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return sum(fields) - idle, sum(fields)


def busy_cpu_seconds() -> float | None:
    """Seconds of CPU time all processes of the machine used since boot (None where /proc
    has none): the difference over a benchmark's window is what the whole system spent."""
    times = _cpu_times()
    return None if times is None else times[0] / os.sysconf("SC_CLK_TCK")


def cpu_busy(window_s: float = 1.0) -> float | None:
    """The fraction of all CPUs busy over the next `window_s` (None where /proc has none)."""
    before = _cpu_times()
    time.sleep(window_s)
    after = _cpu_times()
    if before is None or after is None or after[1] == before[1]:
        return None
    return (after[0] - before[0]) / (after[1] - before[1])


def wait_for_quiet(
    *, busy_below: float = 0.25, limit_s: float = 45.0, window_s: float = 1.0
) -> float | None:
    """Wait (up to `limit_s`) until other work leaves the CPUs mostly idle, so a benchmark
    does not measure someone else's load; the busy fraction seen last."""
    deadline = time.monotonic() + limit_s
    busy = cpu_busy(window_s)
    while busy is not None and busy >= busy_below and time.monotonic() < deadline:
        busy = cpu_busy(window_s)
    return busy


def describe_machine() -> Machine:
    nats = _version([str(nats_server_binary()), "--version"]).removeprefix("nats-server: ")
    return Machine(
        cpu=_cpu_model(),
        cores=os.cpu_count() or 0,
        memory_gib=_memory_gib(),
        python=platform.python_version(),
        kernel=platform.release(),
        git=_version(["git", "--version"]),
        nats_server=nats,
    )
