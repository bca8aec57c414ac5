"""Which recorded processes a stack left running count as its own, how they are stopped, and
the data directory's lock: with real (small) processes, no servers."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from commandcenter import leftovers
from commandcenter.leftovers import StackProcess
from commandcenter.stack_lock import DataDirLock

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")

SLEEPER = "import signal, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN)"


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for proc in started:
        proc.kill()
        proc.wait()


def sleeper(
    started: list[subprocess.Popen[bytes]], *argv: str, ignore_term: bool = False
) -> StackProcess:
    code = (SLEEPER if ignore_term else "import sys, time") + "; print(1, flush=True)"
    proc = subprocess.Popen(  # noqa: S603 - our own argv
        [sys.executable, "-c", code + "; time.sleep(600)", *argv], stdout=subprocess.PIPE
    )
    started.append(proc)
    assert proc.stdout is not None and proc.stdout.readline() == b"1\n"  # it runs: argv, handlers
    process = StackProcess.of("planner", proc.pid)
    assert process is not None
    return process


def record(data_dir: Path, *processes: StackProcess) -> None:
    leftovers.write_state(data_dir, {"pid": 1, "processes": [p.as_json() for p in processes]})


def test_only_live_recorded_processes_that_name_the_data_dir_are_the_stacks(
    tmp_path: Path, processes: list[subprocess.Popen[bytes]]
) -> None:
    data_dir = tmp_path / "cc"
    data_dir.mkdir()
    ours = sleeper(processes, str(data_dir / "nats" / "nats-server.conf"))
    stranger = sleeper(processes, str(tmp_path / "elsewhere"))
    near_miss = sleeper(processes, f"{data_dir}2/nats")  # a sibling directory's name
    reused = StackProcess("gateway", ours.pid, ours.started - 1)  # same pid, another process
    record(data_dir, ours, stranger, near_miss, reused)

    assert leftovers.find(data_dir) == [ours]


def test_stop_ends_a_process_that_ignores_sigterm_after_the_grace(
    tmp_path: Path, processes: list[subprocess.Popen[bytes]]
) -> None:
    data_dir = tmp_path / "cc"
    data_dir.mkdir()
    stubborn = sleeper(processes, str(data_dir), ignore_term=True)
    polite = sleeper(processes, str(data_dir))
    said: list[str] = []

    leftovers.stop([stubborn, polite], grace=0.5, say=said.append)

    assert processes[0].wait(10) == -signal.SIGKILL
    assert processes[1].wait(10) == -signal.SIGTERM
    assert said == [f"planner (pid {stubborn.pid}) did not stop within 0s: killing it"]


def test_the_lock_is_exclusive_and_dies_with_its_holder(tmp_path: Path) -> None:
    first, second = DataDirLock(tmp_path), DataDirLock(tmp_path)
    assert first.acquire()
    assert not second.acquire()
    first.release()
    assert second.acquire()
    second.release()

    holder = subprocess.Popen(  # noqa: S603 - our own argv
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path; "
            "from commandcenter.stack_lock import DataDirLock; "
            "DataDirLock(Path(sys.argv[1])).acquire(); print('held', flush=True); "
            "time.sleep(600)",
            str(tmp_path),
        ],
        stdout=subprocess.PIPE,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == b"held\n"
        assert not first.acquire()
    finally:
        holder.kill()
        holder.wait()
    assert first.acquire(timeout=10)  # the kernel dropped a killed holder's lock
    first.release()
