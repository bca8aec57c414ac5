"""What the benchmarks feed the system: generated plans, a plain repository, no-op agents."""

from __future__ import annotations

import sys
from pathlib import Path

from commandcenter.gitfixtures import git

WRITE_ONE_FILE = (
    "import os, pathlib; t = os.environ.get('CC_TASK_ID', 'x'); "
    "pathlib.Path(f'out-{t}.txt').write_text(t)"
)
"""The no-op agent's work: one new file of its own in its working directory (the task's
worktree): parallel tasks never touch the same file, so their work combines cleanly."""


def write_file_agent() -> list[str]:
    """argv of the no-op agent: a bare interpreter (`-I -S`: no site, no user paths)."""
    return [sys.executable, "-I", "-S", "-c", WRITE_ONE_FILE]


REWRITE_SLOT_FILE = (
    "import json, os, pathlib; "
    "t = json.loads(pathlib.Path(os.environ['CC_TASK_FILE']).read_text()); "
    "n = t['plan_task_id'].rpartition('.')[2]; "
    "pathlib.Path(f'slot-{n}.txt').write_text(t['task_id'])"
)
"""The growth workload's agent: task `<batch>.<n>` rewrites `slot-<n>.txt`, so the tasks of a
batch never touch the same file and the repository's tree keeps batch-size files however many
tasks ran (a tree that grows by a file per task makes every checkout, ours and plain git's,
cost more as N grows: that is git's curve, not ours)."""


def rewrite_slot_agent() -> list[str]:
    return [sys.executable, "-I", "-S", "-c", REWRITE_SLOT_FILE]


def sleep_agent(seconds: float) -> list[str]:
    """argv of an agent that works for `seconds`, then writes its one file."""
    code = f"import time; time.sleep({seconds!r}); {WRITE_ONE_FILE}"
    return [sys.executable, "-I", "-S", "-c", code]


def plan_markdown(tasks: int, *, title: str = "Benchmark plan", batch_size: int = 0) -> str:
    """`tasks` tasks that spell nothing out (the agent decides what to write), in one batch,
    or in batches of `batch_size` (the last one may be smaller)."""
    per_batch = batch_size or tasks
    parts = [f"# {title}", ""]
    for i in range(1, tasks + 1):
        batch, number = (i - 1) // per_batch + 1, (i - 1) % per_batch + 1
        if number == 1:
            parts += [f"## Batch {batch}: Tasks {i} to {min(tasks, i + per_batch - 1)}", ""]
        parts += [
            f"### Task {batch}.{number}: Write the output file number {i}",
            "",
            "**Implementation:**",
            f"Write `out-<task id>.txt` for task {i}.",
            "",
            f"**Commit:** bench: task {i}",
            "",
        ]
    return "\n".join(parts)


def batch_count(tasks: int, batch_size: int) -> int:
    return -(-tasks // batch_size) if batch_size else 1


def write_plan(directory: Path, tasks: int, *, batch_size: int = 0) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / (f"plan-{tasks}-by-{batch_size}.md" if batch_size else f"plan-{tasks}.md")
    path.write_text(plan_markdown(tasks, batch_size=batch_size))
    return path


def make_repository(path: Path) -> Path:
    """A repository with one commit on `main` and no remote: nothing is pushed, so the system
    and the baseline do the same git work."""
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q", "-b", "main")
    (path / "README.md").write_text("# benchmark repository\n")
    git(path, "add", "README.md")
    git(path, "commit", "-q", "-m", "initial commit")
    return path
