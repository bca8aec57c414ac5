"""`commandcenter up` leaves nothing behind: not after its output pipe closed, not after a
SIGKILL, not when started with SIGINT ignored; one stack per data directory; and what a killed
stack left running is stopped by the next `up`.

Each test runs `up` as a user does (its own process, one local executor, no Dagger executor)
and looks at the machine's real processes: the pids `stack.json` records, their descendants
(PostgreSQL's workers), and every process whose command line names the data directory.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from commandcenter.servers import free_port

from tests.support.polling import eventually_sync

pytestmark = pytest.mark.integration


# --- processes, as /proc shows them ---------------------------------------------------------
def _stat(pid: int) -> list[str] | None:
    """The fields after the command name in /proc/<pid>/stat; None for no (live) process."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return None if fields[0] in ("Z", "X") else fields


def _identity(pid: int) -> tuple[int, str] | None:
    """(pid, start time): a pid reused by another process has another start time."""
    fields = _stat(pid)
    return None if fields is None else (pid, fields[19])


def _all_pids() -> list[int]:
    return [int(entry.name) for entry in Path("/proc").iterdir() if entry.name.isdigit()]


def _descendants(roots: set[int]) -> set[int]:
    parents = {pid: int(fields[1]) for pid in _all_pids() if (fields := _stat(pid))}
    found = set(roots)
    while True:
        more = {pid for pid, parent in parents.items() if parent in found} - found
        if not more:
            return found
        found |= more


def _naming(data_dir: Path) -> set[int]:
    """Live processes whose command line names the data directory (not this test's)."""
    needle = os.fsencode(data_dir)
    found = set()
    for pid in _all_pids():
        with contextlib.suppress(OSError):
            named = needle in Path(f"/proc/{pid}/cmdline").read_bytes()
            if named and pid != os.getpid() and _stat(pid) is not None:
                found.add(pid)
    return found


def _describe(pids: set[int]) -> str:
    lines = []
    for pid in sorted(pids):
        with contextlib.suppress(OSError):
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            lines.append(f"{pid}: {argv.strip()}")
    return "\n".join(lines)


# --- `up`, as a user runs it ------------------------------------------------------------------
@dataclass
class Up:
    proc: subprocess.Popen[bytes]
    data_dir: Path
    port: int
    stderr_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def state(self) -> dict[str, Any]:
        state: dict[str, Any] = json.loads((self.data_dir / "stack.json").read_text())
        return state

    def wait_ready(self) -> dict[str, Any]:
        """Until the gateway is ready and `stack.json` names every service; that state."""

        def ready() -> dict[str, Any] | None:
            if self.proc.poll() is not None:  # no point waiting on
                pytest.fail(f"up exited with {self.proc.returncode}:\n{self.logs()}")
            state = self.state()
            names = {p["name"] for p in state["processes"]}
            if not {"nats-server", "postgres", "gateway", "planner"} <= names:
                return None
            if httpx.get(f"{self.url}/ready", timeout=5).status_code != 200:
                return None
            return state

        state: dict[str, Any] = eventually_sync(
            ready, within_s=90, what=f"the stack on {self.data_dir} ready", detail=self.logs
        )
        return state

    def stack_processes(self) -> set[tuple[int, str]]:
        """Everything of the running stack: `up`, what `stack.json` records, their descendants
        (PostgreSQL's workers), and whatever names the data directory."""
        state = self.state()
        roots = {self.proc.pid, int(state["guard_pid"])}
        roots |= {int(p["pid"]) for p in state["processes"]}
        pids = _descendants(roots) | _naming(self.data_dir)
        return {ident for pid in pids if (ident := _identity(pid)) is not None}

    def logs(self) -> str:
        parts = [f"--- up's stderr\n{self.stderr_path.read_text(errors='replace')}"]
        for log in sorted((self.data_dir / "logs").glob("*.log")):
            parts.append(f"--- {log.name}\n{log.read_text(errors='replace')[-2000:]}")
        return "\n".join(parts)


def start_up(
    root: Path,
    data_dir: Path,
    *,
    stdout: int | None = subprocess.DEVNULL,
    preexec_fn: Callable[[], None] | None = None,
) -> Up:
    port = free_port()
    stderr_path = root / f"up-{port}.stderr"
    with stderr_path.open("wb") as stderr:
        proc = subprocess.Popen(  # noqa: S603 - our own command
            [
                sys.executable,
                "-m",
                "commandcenter.main",
                "up",
                "--data-dir",
                str(data_dir),
                "--port",
                str(port),
                "--local-executors",
                "1",
                "--dagger-executors",
                "0",
            ],
            cwd=root,
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=stderr,
            preexec_fn=preexec_fn,  # only signal.signal, before exec
        )
    return Up(proc, data_dir.resolve(), port, stderr_path)


@pytest.fixture
def ups() -> Iterator[list[Up]]:
    """The `up`s a test starts; any still running at the end is stopped (SIGTERM)."""
    started: list[Up] = []
    yield started
    for up in started:
        if up.proc.poll() is None:
            up.proc.terminate()
            try:
                up.proc.wait(60)
            except subprocess.TimeoutExpired:
                up.proc.kill()
                up.proc.wait()


def assert_nothing_left(up: Up, processes: set[tuple[int, str]]) -> None:
    """Within a few seconds, none of `processes` runs and nothing names the data directory."""

    def gone() -> bool:
        left = {pid for pid, started in processes if _identity(pid) == (pid, started)}
        left |= _naming(up.data_dir)
        assert not left, f"still running:\n{_describe(left)}"
        return True

    eventually_sync(gone, within_s=20, what="every process of the stack gone", detail=up.logs)


# --- the tests --------------------------------------------------------------------------------
def test_a_closed_output_pipe_then_sigint_leaves_nothing_running(
    tmp_path: Path, ups: list[Up]
) -> None:
    """`up … | head -c 100`, then Ctrl-C: writing `stopping…` to the closed pipe must not cut
    the stop short."""
    read_end, write_end = os.pipe()
    try:
        up = start_up(tmp_path, tmp_path / "cc", stdout=write_end)
    finally:
        os.close(write_end)
    ups.append(up)
    with os.fdopen(read_end, "rb") as pipe:
        assert len(pipe.read(100)) == 100  # `head -c 100`: then the reader goes away
    up.wait_ready()
    processes = up.stack_processes()
    assert len(processes) >= 6, _describe({pid for pid, _ in processes})

    up.proc.send_signal(signal.SIGINT)
    assert up.proc.wait(60) == 0, up.logs()
    assert "Traceback" not in up.stderr_path.read_text(), up.logs()
    assert_nothing_left(up, processes)
    assert not (up.data_dir / "stack.json").exists()


def test_kill_9_of_up_leaves_nothing_running(tmp_path: Path, ups: list[Up]) -> None:
    up = start_up(tmp_path, tmp_path / "cc")
    ups.append(up)
    up.wait_ready()
    processes = up.stack_processes()

    up.proc.kill()
    up.proc.wait()
    assert_nothing_left(up, processes)
    # The guard said what it stopped; PostgreSQL went through a fast shutdown.
    said = (up.data_dir / "logs" / "guard.log").read_text()
    assert "ended without stopping" in said and "postgres (pid" in said, said
    assert not (up.data_dir / "postgres" / "postmaster.pid").exists()


def test_a_second_up_on_the_same_data_dir_refuses_and_the_first_keeps_serving(
    tmp_path: Path, ups: list[Up]
) -> None:
    first = start_up(tmp_path, tmp_path / "cc")
    ups.append(first)
    first.wait_ready()
    before = first.stack_processes()

    second = start_up(tmp_path, tmp_path / "cc", stdout=subprocess.PIPE)
    ups.append(second)
    out, _ = second.proc.communicate(timeout=60)
    said = second.stderr_path.read_text() + out.decode()
    assert second.proc.returncode == 2, said
    assert f"a stack is already running on {first.data_dir}" in said, said
    assert f"pid {first.proc.pid}" in said and first.url in said, said
    assert "--port" not in said, "a second port for the same store must not be suggested"

    assert httpx.get(f"{first.url}/health", timeout=10).status_code == 200
    assert all(_identity(pid) == (pid, started) for pid, started in before)
    assert first.state()["pid"] == first.proc.pid  # its stack.json is untouched


def _ignore_sigint() -> None:
    """In the child, before exec: what a shell does for a background job."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def test_sigint_stops_an_up_started_with_sigint_ignored(tmp_path: Path, ups: list[Up]) -> None:
    """A script's `commandcenter up &` starts it with SIGINT ignored (as a shell does for a
    background job); Python would keep that ignore."""
    up = start_up(
        tmp_path,
        tmp_path / "cc",
        stdout=subprocess.PIPE,
        preexec_fn=_ignore_sigint,
    )
    ups.append(up)
    up.wait_ready()
    processes = up.stack_processes()

    up.proc.send_signal(signal.SIGINT)
    out, _ = up.proc.communicate(timeout=60)
    assert up.proc.returncode == 0, up.logs()
    assert out.decode().rstrip().endswith("stopped"), out
    assert_nothing_left(up, processes)


def test_the_next_up_stops_what_a_killed_stack_left_running(tmp_path: Path, ups: list[Up]) -> None:
    """Without its guard, a killed stack leaves PostgreSQL running (pg_ctl starts it
    detached). The next `up` stops it, and spares processes that are not the stack's."""
    data_dir = tmp_path / "cc"
    first = start_up(tmp_path, data_dir)
    ups.append(first)
    first.wait_ready()
    postmaster = next(p for p in first.state()["processes"] if p["name"] == "postgres")
    os.kill(int(first.state()["guard_pid"]), signal.SIGKILL)
    first.proc.kill()
    first.proc.wait()
    assert _identity(postmaster["pid"]) is not None, "the leftover this test is about"

    # stack.json also names a process that is not the stack's, and a pid that was reused.
    with subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"]) as other:
        try:
            identity = _identity(other.pid)
            assert identity is not None
            state = first.state()
            state["processes"] += [
                {"name": "planner", "pid": other.pid, "started": int(identity[1])},
                {"name": "gateway", "pid": other.pid, "started": int(identity[1]) - 1},
            ]
            (data_dir / "stack.json").write_text(json.dumps(state))

            second = start_up(tmp_path, data_dir, stdout=subprocess.PIPE)
            ups.append(second)
            second.wait_ready()
            assert _identity(postmaster["pid"]) is None, "the leftover PostgreSQL still runs"
            assert other.poll() is None, "a process that is not the stack's was signalled"
            processes = second.stack_processes()

            second.proc.terminate()  # SIGTERM stops it as SIGINT does
            out, _ = second.proc.communicate(timeout=60)
        finally:
            other.kill()
    said = out.decode()
    assert "ended without stopping" in said, said
    assert f"postgres (pid {postmaster['pid']})" in said, said
    assert f"(pid {other.pid})" not in said, said
    assert second.proc.returncode == 0, said
    assert_nothing_left(second, processes)
