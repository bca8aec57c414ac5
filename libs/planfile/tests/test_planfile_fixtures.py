"""The real plans in `tests/fixtures/plans/` (copies of shared/fixtures/plans) parse right."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest
from cc_planfile import SelectionError, parse_plan_file, select_batches
from commandcenter_contracts.plan import BatchSelection, Plan

FIXTURES = Path(__file__).parents[3] / "tests" / "fixtures" / "plans"


@pytest.fixture(scope="module")
def master() -> Plan:
    return parse_plan_file(FIXTURES / "cc4-MASTER_PLAN.md")


def test_benchmark_2_tasks() -> None:
    plan = parse_plan_file(FIXTURES / "cc4-benchmark-2-tasks.md")

    assert plan.title == "Benchmark Plan: 2-Task Parallel Execution"
    assert plan.warnings == []
    [batch] = plan.batches
    assert (batch.phase, batch.number, batch.title) == (
        None,
        "1",
        "Parallel File Creation (2 tasks)",
    )
    assert batch.line == 8
    assert [task.id for task in batch.tasks] == ["1.1", "1.2"]
    task_a = batch.tasks[0]
    assert task_a.title == "Create Task A Output"
    assert task_a.line == 14
    assert task_a.files == ["scripts/tests/artifacts/benchmark-2-task-a.txt"]
    assert task_a.verification == []
    assert task_a.verification_notes == [
        "File exists at scripts/tests/artifacts/benchmark-2-task-a.txt"
    ]
    assert task_a.commit_message == "feat(benchmark): Add Task A output"
    assert task_a.depends_on == []
    assert task_a.body.startswith("### Task 1.1: Create Task A Output\n")
    assert task_a.body.endswith("**Commit:** feat(benchmark): Add Task A output")
    # The fenced sample output inside the task stays in the body, as written.
    assert "```\nTask A executed successfully at [TIMESTAMP]\n" in task_a.body
    assert batch.tasks[1].files == ["scripts/tests/artifacts/benchmark-2-task-b.txt"]


def test_benchmark_4_tasks() -> None:
    plan = parse_plan_file(FIXTURES / "cc4-benchmark-4-tasks.md")

    assert plan.warnings == []
    [batch] = plan.batches
    assert batch.title == "Parallel File Creation (4 tasks)"
    assert [task.id for task in batch.tasks] == ["1.1", "1.2", "1.3", "1.4"]
    assert [task.files for task in batch.tasks] == [
        [f"scripts/tests/artifacts/benchmark-4-task-{x}.txt"] for x in "abcd"
    ]


def test_master_plan_batches(master: Plan) -> None:
    assert master.title == "CC4 Master Plan: Pipeline Integration to MVP"
    summary = [(b.phase, b.number, len(b.tasks)) for b in master.batches]
    assert summary == [
        ("1", "1", 4),
        ("2", "2", 3),
        ("3", "1", 3),
        ("3", "2", 3),
        ("3", "3", 3),
        ("3", "4", 3),
        ("3", "5", 3),
        ("3", "6", 3),
    ]


def test_master_plan_phase_tasks_form_the_phase_batch(master: Plan) -> None:
    phase1, phase2 = master.batches[0], master.batches[1]
    assert phase1.title == "Pipeline Integration (COMPLETE)"
    assert phase1.line == 99
    assert [t.id for t in phase1.tasks] == ["1.1", "1.2", "1.3", "1.4"]
    assert phase1.tasks[0].title == "Extract Core Services"
    # "Source Files" is not the Files field; the drawn tree stays in the body only.
    assert phase1.tasks[0].files == []
    assert "├── worktree_pool.py" in phase1.tasks[0].body

    assert phase2.title == "Pipeline Validation (COMPLETE)"
    assert [t.title for t in phase2.tasks] == [
        "Fix Critical Race Condition Bug",
        "Optimize Coordination Overhead",
        "PostgreSQL Performance Testing",
    ]
    race = phase2.tasks[0]
    assert race.commit_message == "8bab254"
    assert race.files == ["backend/app/services/autonomous_task_worker.py"]
    assert phase2.tasks[2].files == [
        "backend/app/database.py",
        "backend/app/services/task_executor.py",
        "backend/app/services/autonomous_task_worker.py",
        "scripts/benchmark_parallel_workers.py",
    ]
    # Task 2.3's section ends at "## Phase 2 Validation Summary".
    assert "Validation Summary" not in phase2.tasks[2].body


def test_master_plan_phase3_table_tasks(master: Plan) -> None:
    phase3 = [b for b in master.batches if b.phase == "3"]
    assert [b.number for b in phase3] == ["1", "2", "3", "4", "5", "6"]
    assert phase3[0].title == "Core Infrastructure (3 tasks)"
    ids = [t.id for b in phase3 for t in b.tasks]
    assert ids == [f"3.{b}.{t}" for b in range(1, 7) for t in range(1, 4)]
    first = phase3[0].tasks[0]
    assert (first.title, first.files, first.line) == (
        "Config Validation Service",
        ["services/config_validator.py"],
        365,
    )
    routing = phase3[4].tasks[2]
    assert routing.title == "Ideas Routing"
    assert routing.files == ["App.tsx", "routes/index.tsx"]
    assert all(task.files for b in phase3 for task in b.tasks)


def test_master_plan_phase4_is_a_warning_not_a_batch(master: Plan) -> None:
    assert not [b for b in master.batches if b.phase == "4"]
    assert [(w.line, w.message) for w in master.warnings] == [
        (420, "section 'Tasks' under phase 4 lists 4 items without task ids; not run")
    ]


def test_master_plan_notes_the_one_shared_file(master: Plan) -> None:
    assert [(n.phase, n.batch, n.tasks, n.files) for n in master.notes] == [
        ("2", "2", ["2.1", "2.3"], ["backend/app/services/autonomous_task_worker.py"])
    ]


def test_master_plan_fenced_comment_is_not_a_heading(master: Plan) -> None:
    text = (FIXTURES / "cc4-MASTER_PLAN.md").read_text(encoding="utf-8")
    assert "# NEVER use --reload" in text
    document = msgspec.json.encode(master).decode()
    assert "NEVER use --reload for autonomous" not in document


def test_master_plan_selection(master: Plan) -> None:
    with pytest.raises(SelectionError) as raised:
        select_batches(master, BatchSelection(start_batch="1", end_batch="3"))
    assert "batch 1 is ambiguous" in str(raised.value)
    assert raised.value.candidates == [
        "phase 1 batch 1: Pipeline Integration (COMPLETE)",
        "phase 3 batch 1: Core Infrastructure (3 tasks)",
    ]

    chosen = select_batches(master, BatchSelection(start_batch="1", end_batch="3", phase="3"))
    assert [(b.phase, b.number) for b in chosen] == [("3", "1"), ("3", "2"), ("3", "3")]
