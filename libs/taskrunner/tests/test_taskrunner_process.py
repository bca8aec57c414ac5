"""Child processes: output streamed line by line; timeouts and cancel kill the whole tree."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from cc_taskrunner import process, run_process
from cc_taskrunner.process import CommandNotFound, OutputStream, process_alive
from taskrunner_support import PROCESS_TREE

from tests.support.executors import PYTHON
from tests.support.polling import eventually, eventually_sync


def _pids(path: Path) -> list[int]:
    def both() -> list[int] | None:
        pids = path.read_text().split() if path.exists() else []
        return [int(p) for p in pids] if len(pids) == 2 else None

    found: list[int] = eventually_sync(both, within_s=20, what="the process tree")
    return found


async def _all_gone(pids: list[int]) -> bool:
    return bool(
        await eventually(
            lambda: not any(process_alive(pid) for pid in pids),
            within_s=15,
            what="every process of the tree gone",
        )
    )


async def test_output_lines_reach_the_callback_in_order(tmp_path: Path) -> None:
    seen: list[tuple[OutputStream, str]] = []

    async def on_line(stream: OutputStream, line: str) -> None:
        seen.append((stream, line))

    script = "import sys\nfor i in range(3): print(f'line {i}', flush=True)\nsys.exit(3)"
    result = await run_process(
        [PYTHON, "-c", script], cwd=tmp_path, timeout_s=30, on_line=on_line, stdin=b"ignored"
    )
    assert result.returncode == 3 and not result.ok
    assert seen == [("stdout", "line 0"), ("stdout", "line 1"), ("stdout", "line 2")]


async def test_stdin_is_delivered_and_stderr_kept_for_the_message(tmp_path: Path) -> None:
    script = "import sys\ndata = sys.stdin.read()\nprint('got ' + data, file=sys.stderr)"
    result = await run_process([PYTHON, "-c", script], cwd=tmp_path, timeout_s=30, stdin=b"hello")
    assert result.ok
    assert result.stderr_tail == ("got hello",)


async def test_a_timeout_kills_the_whole_process_tree(tmp_path: Path) -> None:
    pidfile = tmp_path / "pids"
    task = asyncio.create_task(
        run_process(
            [PYTHON, "-c", PROCESS_TREE, str(pidfile)], cwd=tmp_path, timeout_s=3, kill_grace_s=1
        )
    )
    pids = await asyncio.to_thread(_pids, pidfile)
    result = await task
    assert result.timed_out and not result.ok
    assert await _all_gone(pids)


async def test_cancel_kills_the_whole_process_tree(tmp_path: Path) -> None:
    pidfile = tmp_path / "pids"
    cancel = asyncio.Event()
    task = asyncio.create_task(
        run_process(
            [PYTHON, "-c", PROCESS_TREE, str(pidfile)],
            cwd=tmp_path,
            timeout_s=300,
            cancel=cancel,
            kill_grace_s=1,
        )
    )
    pids = await asyncio.to_thread(_pids, pidfile)
    cancel.set()
    result = await asyncio.wait_for(task, timeout=30)
    assert result.cancelled and not result.timed_out
    assert await _all_gone(pids)


async def test_children_left_behind_by_an_exited_process_are_stopped(tmp_path: Path) -> None:
    pidfile = tmp_path / "pids"
    script = (
        "import os, subprocess, sys\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)'],"
        " stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)\n"
        "open(sys.argv[1], 'w').write(f'{os.getpid()} {child.pid}')\n"
    )
    result = await run_process(
        [PYTHON, "-c", script, str(pidfile)], cwd=tmp_path, timeout_s=60, kill_grace_s=1
    )
    assert result.ok
    assert await _all_gone(_pids(pidfile))


@pytest.mark.parametrize("die_with_parent", [True, False])
async def test_a_missing_program_is_reported(tmp_path: Path, die_with_parent: bool) -> None:
    with pytest.raises(CommandNotFound, match="cc-no-such-program"):
        await run_process(
            ["cc-no-such-program"], cwd=tmp_path, timeout_s=5, die_with_parent=die_with_parent
        )
    (tmp_path / "not-executable").write_text("#!/bin/sh\n")
    with pytest.raises(CommandNotFound, match="not-executable"):
        await run_process(
            ["./not-executable"], cwd=tmp_path, timeout_s=5, die_with_parent=die_with_parent
        )


async def test_a_program_is_found_where_exec_would_find_it(tmp_path: Path) -> None:
    """On the child's PATH (not the executor's), or by a path relative to its folder."""
    tools = tmp_path / "tools"
    tools.mkdir()
    for name in ("cc-hello", "local-hello"):
        (tools / name).write_text(f'#!/bin/sh\necho {name} "$@"\n')
        (tools / name).chmod(0o755)
    env = {**os.environ, "PATH": f"{tools}{os.pathsep}{os.environ.get('PATH', '')}"}
    found = await run_process(
        ["cc-hello", "a b"], cwd=tmp_path, env=env, timeout_s=10, capture_stdout=True
    )
    assert found.ok and found.stdout == "cc-hello a b\n"
    relative = await run_process(["./local-hello"], cwd=tools, timeout_s=10, capture_stdout=True)
    assert relative.ok and relative.stdout == "local-hello\n"


async def test_a_very_long_line_does_not_break_the_reader(tmp_path: Path) -> None:
    lines: list[str] = []

    async def on_line(_stream: OutputStream, line: str) -> None:
        lines.append(line)

    script = "print('x' * 3_000_000); print('after')"
    result = await run_process([PYTHON, "-c", script], cwd=tmp_path, timeout_s=60, on_line=on_line)
    assert result.ok
    assert sum(len(line) for line in lines if set(line) == {"x"}) == 3_000_000
    assert lines[-1] == "after"


# A stand-in executor: starts a child through `run_process`, which records its pid and sleeps.
EXECUTOR = """
import asyncio, pathlib, sys
from cc_taskrunner import process, run_process

if sys.argv[2] == "preexec_fn":  # as on a machine without setpriv
    process._setpriv = lambda: None
SLEEPER = "import os, pathlib, sys, time; pathlib.Path(sys.argv[1]).write_text(str(os.getpid()))"
argv = [sys.executable, "-c", SLEEPER + "; time.sleep(300)", sys.argv[1]]
asyncio.run(run_process(argv, cwd=pathlib.Path.cwd(), timeout_s=300))
"""


def _wait_until(predicate: Callable[[], bool], within_s: float) -> bool:
    deadline = time.monotonic() + within_s
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
@pytest.mark.parametrize("way", ["setpriv", "preexec_fn"])
def test_a_child_dies_with_its_parent_even_in_its_own_session(tmp_path: Path, way: str) -> None:
    if way == "setpriv":
        assert process._setpriv() is not None  # util-linux is on every machine this runs on
    pidfile = tmp_path / "child"
    parent = subprocess.Popen([PYTHON, "-c", EXECUTOR, str(pidfile), way], cwd=tmp_path)  # noqa: S603
    child = 0
    try:
        assert _wait_until(lambda: pidfile.exists() and pidfile.read_text() != "", 20)
        child = int(pidfile.read_text())
        assert os.getpgid(child) == child  # its own session and group, as before
        assert process_alive(child)
        parent.kill()  # SIGKILL: nothing in the parent runs to stop the child
        parent.wait()
        assert _wait_until(lambda: not process_alive(child), 15)
    finally:
        parent.kill()
        parent.wait()
        if child and process_alive(child):
            os.kill(child, signal.SIGKILL)
