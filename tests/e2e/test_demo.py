"""`commandcenter demo` — what `make demo` runs — works from nothing on this machine."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from commandcenter.servers import free_port

pytestmark = [pytest.mark.e2e, pytest.mark.integration]


def test_the_demo_runs_the_sample_plan_and_pushes_every_branch(tmp_path: Path) -> None:
    data_dir = tmp_path / "cc"
    result = subprocess.run(  # noqa: S603 - our own command
        [
            sys.executable,
            "-m",
            "commandcenter.main",
            "demo",
            "--data-dir",
            str(data_dir),
            "--port",
            str(free_port()),
        ],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "run succeeded" in result.stdout
    pushed = [line for line in result.stdout.splitlines() if line.strip().startswith("cc/")]
    # the integration branch alone: each task's branch left the remote once integrated
    assert len(pushed) == 1 and pushed[0].split()[0].endswith("/integration"), result.stdout
    # The run's work adds up: one commit per task on the integration branch, every file there.
    log = result.stdout.split("one commit per task, on ")[1].splitlines()[1:5]
    assert [line.split(" ", 1)[1] for line in log] == [
        "docs: start the changelog",
        "feat(greeting): export greet",
        "docs(greeting): describe greet()",
        "feat(greeting): add greet()",
    ], result.stdout
    files = result.stdout.split("files on ")[1]
    for name in ("greeting/hello.py", "greeting/__init__.py", "docs/greeting.md", "CHANGELOG.md"):
        assert name in files, result.stdout
    # the stack it started for itself is gone again: nothing left listening in the data dir
    assert not (data_dir / "stack.json").exists()
