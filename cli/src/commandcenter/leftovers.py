"""Finding and stopping the processes a stack on a data directory left running.

`stack.json` names every process the stack started (pid and start time). A stack that ended
without stopping them (killed, crashed) leaves orphans that hold its ports and its stores; the
guard (`commandcenter.guard`) and the next `up` on the same directory stop them. A pid is only
signalled when it is still the process that was recorded (same start time, so not a reused pid)
and it names the data directory in its command line or environment.

Only the standard library: the guard imports this module.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

STATE_FILE = "stack.json"
POSTMASTER = "postgres"


@dataclass(frozen=True)
class StackProcess:
    name: str
    pid: int
    started: int
    """Start time in clock ticks since boot (/proc/<pid>/stat): a reused pid has another."""

    @classmethod
    def of(cls, name: str, pid: int) -> StackProcess | None:
        started = start_time(pid)
        return None if started is None else cls(name, pid, started)

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "pid": self.pid, "started": self.started}

    def __str__(self) -> str:
        return f"{self.name} (pid {self.pid})"


def start_time(pid: int) -> int | None:
    """The process's start time, or None when there is no such (live) process."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    if fields[0] in ("Z", "X"):  # a zombie has ended; only its exit status is left
        return None
    return int(fields[19])


def is_running(process: StackProcess) -> bool:
    return start_time(process.pid) == process.started


def pid_alive(pid: int) -> bool:
    return start_time(pid) is not None


def read_state(data_dir: Path) -> dict[str, Any]:
    """`stack.json` of the data directory ({} when absent or unreadable)."""
    with contextlib.suppress(OSError, ValueError):
        state = json.loads((data_dir / STATE_FILE).read_text())
        if isinstance(state, dict):
            return state
    return {}


def write_state(data_dir: Path, state: dict[str, Any]) -> None:
    """Replace `stack.json` whole: a reader never sees half of it."""
    partial = data_dir / f".{STATE_FILE}.tmp"
    partial.write_text(json.dumps(state, indent=2))
    partial.replace(data_dir / STATE_FILE)


def _mentions(blob: bytes, data_dir: Path) -> bool:
    path = os.fsencode(data_dir)
    return any(path + end in blob for end in (b"/", b"\0")) or blob.endswith(path)


def belongs_to(pid: int, data_dir: Path) -> bool:
    """Whether the process names the data directory (its argv, its environment or its
    working directory): the stack's services get paths inside it in their environment,
    nats-server and PostgreSQL in their argv."""
    proc = Path(f"/proc/{pid}")
    for part in ("cmdline", "environ"):
        with contextlib.suppress(OSError):
            if _mentions((proc / part).read_bytes() + b"\0", data_dir):
                return True
    with contextlib.suppress(OSError):
        return _mentions(os.fsencode(os.readlink(proc / "cwd")) + b"\0", data_dir)
    return False


def postmaster(data_dir: Path) -> StackProcess | None:
    """The PostgreSQL server on the data directory's store, by its `postmaster.pid`
    (pg_ctl starts it detached from us)."""
    pgdata = data_dir / "postgres"
    with contextlib.suppress(OSError, ValueError, IndexError):
        pid = int((pgdata / "postmaster.pid").read_text().split()[0])
        if belongs_to(pid, pgdata):
            return StackProcess.of(POSTMASTER, pid)
    return None


def find(data_dir: Path) -> list[StackProcess]:
    """The processes of a stack on `data_dir` that are still running, PostgreSQL last."""
    data_dir = data_dir.resolve()
    found: dict[int, StackProcess] = {}
    for entry in read_state(data_dir).get("processes", []):
        with contextlib.suppress(KeyError, TypeError, ValueError):
            recorded = StackProcess(str(entry["name"]), int(entry["pid"]), int(entry["started"]))
            ours = recorded.pid != os.getpid() and is_running(recorded)
            if ours and belongs_to(recorded.pid, data_dir):
                found[recorded.pid] = recorded
    server = postmaster(data_dir)
    if server is not None:
        found[server.pid] = server
    return sorted(found.values(), key=lambda p: p.name == POSTMASTER)


def stop(
    processes: Iterable[StackProcess], *, grace: float = 4.0, say: Callable[[str], None]
) -> None:
    """SIGTERM the services and nats-server, SIGKILL what is left after `grace`; then a fast
    shutdown of PostgreSQL (SIGINT), escalating the same way. They are not our children:
    their end shows in /proc."""
    processes = list(processes)
    others = [p for p in processes if p.name != POSTMASTER]
    servers = [p for p in processes if p.name == POSTMASTER]
    _end(others, signal.SIGTERM, grace, say)
    _end(servers, signal.SIGINT, max(grace, 10.0), say)


def _end(
    processes: list[StackProcess], sig: signal.Signals, grace: float, say: Callable[[str], None]
) -> None:
    for process in processes:
        _signal(process, sig)
    left = _wait_gone(processes, grace)
    for process in left:
        say(f"{process} did not stop within {grace:.0f}s: killing it")
        _signal(process, signal.SIGKILL)
    _wait_gone(left, 5.0)


def _signal(process: StackProcess, sig: signal.Signals) -> None:
    if is_running(process):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(process.pid, sig)


def _wait_gone(processes: list[StackProcess], timeout: float) -> list[StackProcess]:
    deadline = time.monotonic() + timeout
    while True:
        left = [p for p in processes if is_running(p)]
        if not left or time.monotonic() >= deadline:
            return left
        time.sleep(0.05)
