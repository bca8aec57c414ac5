"""Headings that nearly are structure are warnings with their line, never silently dropped."""

from __future__ import annotations

from textwrap import dedent

import pytest
from cc_planfile import parse_plan
from cc_planfile.headings import edit_distance
from commandcenter_contracts.plan import Plan


def plan_of(text: str) -> Plan:
    return parse_plan(dedent(text).lstrip("\n"))


def warnings_of(plan: Plan) -> list[tuple[int, str]]:
    return [(w.line, w.message) for w in plan.warnings]


def test_edit_distance_counts_a_swap_as_one() -> None:
    assert edit_distance("taks", "task") == 1
    assert edit_distance("tsk", "task") == 1
    assert edit_distance("bacth", "batch") == 1
    assert edit_distance("phase", "phase") == 0
    assert edit_distance("test", "task") == 2


def test_a_misspelled_task_heading_is_a_warning_not_a_task() -> None:
    plan = plan_of(
        """
        ## Batch 1: B
        ### Task 1.1: ok
        ### Taks 1.2: misspelled
        Its body is not read as part of 1.1.
        ### Task1.3: glued
        ### Tasks 1.4: plural
        """
    )
    [task] = plan.batches[0].tasks
    assert task.id == "1.1"
    assert "Its body" not in task.body
    assert warnings_of(plan) == [
        (
            3,
            "heading 'Taks 1.2: misspelled' looks like a misspelled task heading "
            "(write 'Task 1.2: title'); not run",
        ),
        (
            5,
            "heading 'Task1.3: glued' looks like a misspelled task heading "
            "(write 'Task 1.3: title'); not run",
        ),
        (
            6,
            "heading 'Tasks 1.4: plural' looks like a misspelled task heading "
            "(write 'Task 1.4: title'); not run",
        ),
    ]


def test_a_misspelled_batch_heading_keeps_its_tasks_from_running_elsewhere() -> None:
    plan = plan_of(
        """
        ## Batch 1: B
        ### Task 1.1: ok
        ## Bacth 2: C
        ### Task 2.1: under the misspelled batch
        ## Phse 3: D
        """
    )
    assert [b.number for b in plan.batches] == ["1"]
    assert warnings_of(plan) == [
        (
            3,
            "heading 'Bacth 2: C' looks like a misspelled batch heading "
            "(write 'Batch 2: title'); the tasks under it are not run",
        ),
        (4, "task 2.1 is under the unreadable heading at line 3; not run"),
        (
            5,
            "heading 'Phse 3: D' looks like a misspelled phase heading "
            "(write 'Phase 3: title'); the tasks under it are not run",
        ),
    ]


def test_a_numbered_id_after_an_unknown_word_where_a_task_could_be() -> None:
    plan = plan_of(
        """
        ## Batch 1: B
        ### Task 1.1: ok
        ### Step 1.2: Build it
        ### Item 3: Inside a batch
        ## Release 2.1: outside any batch, but a dotted id
        """
    )
    assert [t.id for t in plan.batches[0].tasks] == ["1.1"]
    assert [line for line, _ in warnings_of(plan)] == [3, 4, 5]
    assert warnings_of(plan)[0][1] == (
        "heading 'Step 1.2: Build it' looks like a task, but 'Step' is not Task, Batch or "
        "Phase; not run (write 'Task 1.2: title' if it is a task)"
    )


@pytest.mark.parametrize(
    "heading",
    [
        "## Task Overview",
        "## Phase 2 Validation Summary",
        "## Phases 1-3: Summary",
        "## Phases 1 and 2 compared",
        "## Python 3.11 support",
        "## Step 2",
        "## Week 1: Kickoff",  # a plain number outside every batch
        "## 2026-01-14: Lessons",
        "### 1. Never use --reload",
        "## Tasks",
    ],
)
def test_prose_headings_are_not_warnings(heading: str) -> None:
    plan = plan_of(f"# P\n## Batch 1: B\n### Task 1.1: ok\n{heading}\n")
    assert plan.warnings == []


def test_numbered_steps_inside_a_task_are_its_body() -> None:
    plan = plan_of(
        """
        ## Batch 1: B
        ### Task 1.1: ok
        #### Step 1: Write the failing test
        #### Step 2.1: Make it pass
        """
    )
    assert plan.warnings == []
    assert "Step 2.1: Make it pass" in plan.batches[0].tasks[0].body


def test_a_misspelling_inside_a_task_section_is_still_caught() -> None:
    plan = plan_of(
        """
        ## Batch 1: B
        ### Task 1.1: ok
        #### Tsak 1.2: hidden in 1.1's section
        """
    )
    assert [line for line, _ in warnings_of(plan)] == [3]
