"""The plan-follower agent: which files a task body spells out, and where it may write them."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from cc_planfile import parse_plan_file
from cc_taskrunner.agents.plan_follower import (
    PlanFollowerAgent,
    UnsafePath,
    files_to_create,
    mentioned_path,
    safe_target,
)
from cc_taskrunner.ports import AgentContext, LogStream
from commandcenter_contracts import FailureCode
from taskrunner_support import create_body, is_empty_dir

from tests.support.executors import FENCE, task_for

FIXTURE = Path(__file__).parents[3] / "tests" / "fixtures" / "plans" / "cc4-benchmark-2-tasks.md"


def test_the_real_benchmark_plan_bodies_each_create_their_file() -> None:
    plan = parse_plan_file(FIXTURE)
    tasks = [task for batch in plan.batches for task in batch.tasks]
    assert [t.id for t in tasks] == ["1.1", "1.2"]
    for task, letter in zip(tasks, "ab", strict=True):
        (spec,) = files_to_create(task.body)
        assert spec.path == f"scripts/tests/artifacts/benchmark-2-task-{letter}.txt"
        assert spec.content == (
            f"Task {letter.upper()} executed successfully at [TIMESTAMP]\n"
            f"Parallel execution test - Task {letter.upper()}\n"
        )


@pytest.mark.parametrize(
    ("line", "path"),
    [
        ("- Create: scripts/out.txt", "scripts/out.txt"),
        ("Create `docs/a b.md`:", "docs/a b.md"),
        ("**Create:** `src/x.py`", "src/x.py"),
        ("1. Create: `src/y.py` (new file)", "src/y.py"),
        ("Create file `src/z.py` with the following content:", "src/z.py"),
        ("Create a timestamped output file for Task A.", None),
        ("Created: nothing", None),
        ("- Modify: src/x.py", None),
    ],
)
def test_create_mentions(line: str, path: str | None) -> None:
    assert mentioned_path(line) == path


def test_a_files_list_entry_followed_by_a_block_creates_the_file() -> None:
    body = f"**Files:**\n- Create: a.txt\n\n{FENCE}text\nhello\n{FENCE}\n"
    (spec,) = files_to_create(body)
    assert (spec.path, spec.content) == ("a.txt", "hello\n")


def test_a_files_list_without_blocks_creates_nothing() -> None:
    body = "**Files:**\n- Create: a.txt\n- Create: b.txt\n\nWrite them as you see fit.\n"
    assert files_to_create(body) == []


def test_mentions_inside_other_code_blocks_are_text() -> None:
    body = (
        f"Example of a plan:\n{FENCE}markdown\nCreate `evil.txt`:\n{FENCE}\n"
        f"Create `real.txt`:\n{FENCE}\nok\n{FENCE}\n"
    )
    assert [s.path for s in files_to_create(body)] == ["real.txt"]


def test_a_longer_fence_keeps_inner_fences_as_content() -> None:
    body = f"Create `README.md`:\n````markdown\n# T\n{FENCE}sh\nls\n{FENCE}\n````\n"
    (spec,) = files_to_create(body)
    assert spec.content == f"# T\n{FENCE}sh\nls\n{FENCE}\n"


def test_an_indented_block_in_a_list_loses_its_indent() -> None:
    body = f"- Create: `a.py`\n  {FENCE}python\n  def f():\n      return 1\n  {FENCE}\n"
    (spec,) = files_to_create(body)
    assert spec.content == "def f():\n    return 1\n"


@pytest.mark.parametrize(
    "bad", ["/etc/passwd", "../outside.txt", "a/../../b.txt", ".git/config", "~/x", "a\\b"]
)
def test_unsafe_paths_are_refused(tmp_path: Path, bad: str) -> None:
    with pytest.raises(UnsafePath):
        safe_target(tmp_path, bad)


def test_a_symlink_out_of_the_workspace_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    outside = tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (root / "link").symlink_to(outside)
    with pytest.raises(UnsafePath, match="symbolic link"):
        safe_target(root, "link/file.txt")
    assert safe_target(root, "sub/file.txt") == root / "sub" / "file.txt"


async def _run_agent(tmp_path: Path, body: str) -> tuple[FailureCode | None, str, list[str]]:
    lines: list[str] = []

    async def log(_stream: LogStream, line: str) -> None:
        lines.append(line)

    task = task_for(str(tmp_path), "r", body=body)
    ctx = AgentContext(
        task=task, workdir=tmp_path, prompt="", timeout_s=10, cancel=asyncio.Event(), log=log
    )
    result = await PlanFollowerAgent().run(ctx)
    return result.failure, result.message, lines


async def test_the_agent_writes_the_files_and_says_so(tmp_path: Path) -> None:
    failure, _, lines = await _run_agent(tmp_path, create_body("deep/dir/a.txt", "alpha"))
    assert failure is None
    assert (tmp_path / "deep" / "dir" / "a.txt").read_text() == "alpha\n"
    assert lines == ["plan-follower: wrote deep/dir/a.txt (6 bytes)"]


async def test_one_unsafe_path_fails_the_task_and_nothing_is_written(tmp_path: Path) -> None:
    body = create_body("fine.txt", "x") + create_body("../escape.txt", "y")
    failure, message, _ = await _run_agent(tmp_path, body)
    assert failure is FailureCode.AGENT_FAILED
    assert "'../escape.txt'" in message and "'..' is not allowed" in message
    assert not (tmp_path / "fine.txt").exists()
    assert not (tmp_path.parent / "escape.txt").exists()


async def test_a_task_with_nothing_to_create_changes_nothing(tmp_path: Path) -> None:
    failure, _, lines = await _run_agent(tmp_path, "Think hard about the design.\n")
    assert failure is None
    assert is_empty_dir(tmp_path)
    assert "no file to create" in lines[0]


def test_dunder_names_in_a_path_survive() -> None:
    """`__init__.py` is a file name, not markdown emphasis (the demo's plan has one)."""
    body = 'Create `pkg/__init__.py`:\n```\nfrom pkg.a import b\n__all__ = ["b"]\n```\n'
    (spec,) = files_to_create(body)
    assert spec.path == "pkg/__init__.py"
    assert mentioned_path("- **Create:** `pkg/__init__.py`") == "pkg/__init__.py"
