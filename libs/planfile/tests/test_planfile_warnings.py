"""Never silent: what looks like a task but cannot be read becomes a warning with its line."""

from __future__ import annotations

from textwrap import dedent

from cc_planfile import parse_plan
from commandcenter_contracts.plan import Plan


def plan_of(text: str) -> Plan:
    return parse_plan(dedent(text).lstrip("\n"))


def warnings_of(plan: Plan) -> list[tuple[int, str]]:
    return [(w.line, w.message) for w in plan.warnings]


def test_task_heading_without_id() -> None:
    plan = plan_of(
        """
        ## Batch 1: B
        ### Task: no id
        ### Task 1.1: ok
        """
    )
    assert [t.id for t in plan.batches[0].tasks] == ["1.1"]
    assert warnings_of(plan) == [(2, "task heading 'Task: no id' has no id; not run")]


def test_task_heading_with_malformed_id() -> None:
    plan = plan_of("## Batch 1: B\n### Task 1.x foo\n### Task 1.1: ok\n")
    assert warnings_of(plan) == [
        (2, "task heading 'Task 1.x foo' has a malformed id '1.x'; not run")
    ]


def test_task_heading_without_title() -> None:
    plan = plan_of(
        """
        ### Batch 1: B
        #### Task
        #### Task 1.2
        #### Task 1.3: ✅
        #### Task 1.4: ok
        """
    )
    assert [t.id for t in plan.batches[0].tasks] == ["1.4"]
    assert warnings_of(plan) == [
        (2, "task heading 'Task' has no id and no title; not run"),
        (3, "task 1.2 has no title; not run"),
        (4, "task 1.3 has no title; not run"),
    ]


def test_unreadable_task_section_is_not_read_as_structure() -> None:
    plan = plan_of(
        """
        ## Batch 1: B
        ### Task 1.1: ok
        ### Task One: unreadable
        | Task | Description |
        |------|-------------|
        | 1.2 | Inside the unreadable task |
        """
    )
    assert [t.id for t in plan.batches[0].tasks] == ["1.1"]
    assert warnings_of(plan) == [(3, "task heading 'Task One: unreadable' has no id; not run")]


def test_prose_headings_mentioning_tasks_are_not_warnings() -> None:
    plan = plan_of(
        """
        ## Batch 1: B
        ### Task 1.1: ok
        ## Task Overview
        ## Batch Processing Notes
        ## Phase 1 Summary
        """
    )
    assert plan.warnings == []


def test_duplicate_task_id_in_a_batch() -> None:
    plan = plan_of(
        """
        ## Batch 1: B
        ### Task 1.1: First
        ### Task 1.1: Again
        ## Batch 2: C
        ### Task 1.1: Other batch is fine
        """
    )
    assert [t.title for t in plan.batches[0].tasks] == ["First"]
    assert warnings_of(plan) == [
        (3, "task 1.1 appears twice in batch 1 'B' (lines 2 and 3); the second is not run")
    ]


def test_batch_heading_without_number() -> None:
    plan = plan_of(
        """
        ## Batch 1: B
        ### Task 1.1: ok
        ## Batch: setup
        ### Task 2.1: under the broken heading
        """
    )
    assert [b.number for b in plan.batches] == ["1"]
    assert warnings_of(plan) == [
        (3, "batch heading 'Batch: setup' has no number; the tasks under it are not run"),
        (4, "task 2.1 is under the unreadable heading at line 3; not run"),
    ]


def test_task_before_any_batch_goes_to_implicit_batch_0() -> None:
    plan = plan_of(
        """
        # Plan
        ### Task 0.1: Stray
        ## Batch 1: B
        ### Task 1.1: ok
        """
    )
    assert [(b.number, b.title, [t.id for t in b.tasks]) for b in plan.batches] == [
        ("0", "Plan", ["0.1"]),
        ("1", "B", ["1.1"]),
    ]
    assert warnings_of(plan) == [
        (2, "task 0.1 is not under any batch or phase; it is put in batch 0")
    ]


def test_tasks_section_without_ids() -> None:
    plan = plan_of(
        """
        ## Phase 4: Final Integration
        ### Overview
        - not a task list
        ### Tasks
        - Full system integration test
        - Documentation update
        ## Next
        """
    )
    assert plan.batches == []
    assert warnings_of(plan) == [
        (4, "section 'Tasks' under phase 4 lists 2 items without task ids; not run"),
    ]


def test_tasks_section_with_task_headings_is_fine() -> None:
    plan = plan_of(
        """
        ## Phase 4: Final
        ### Tasks
        - overview bullet
        #### Task 4.1: Real
        """
    )
    assert [t.id for t in plan.batches[0].tasks] == ["4.1"]
    assert plan.warnings == []


def test_phase_and_batch_without_tasks() -> None:
    plan = plan_of(
        """
        ## Phase 0: Research
        Prose only.
        ## Phase 1: Build
        ### Batch 1: Empty
        ### Batch 2: Full
        #### Task 1.2.1: Work
        """
    )
    assert [(b.number, len(b.tasks)) for b in plan.batches] == [("1", 0), ("2", 1)]
    assert warnings_of(plan) == [
        (1, "phase 0 'Research' has no tasks; nothing to run"),
        (4, "phase 1 batch 1 'Empty' has no tasks"),
    ]


def test_duplicate_batch_and_phase_numbers() -> None:
    plan = plan_of(
        """
        ## Batch 1: A
        ### Task 1.1: x
        ## Batch 1: B
        ### Task 1.2: y
        """
    )
    assert warnings_of(plan) == [
        (3, "batch 1 'B' has the same number as the batch at line 1; selecting it selects both")
    ]
    plan = plan_of("## Phase 1: A\n### Task 1.1: x\n## Phase 1: B\n### Task 1.2: y\n")
    assert warnings_of(plan) == [(3, "phase 1 appears twice (lines 1 and 3)")]


def test_unclosed_fence() -> None:
    plan = plan_of(
        """
        ## Batch 1: B
        ### Task 1.1: ok
        ```bash
        echo open
        ### Task 1.2: swallowed
        """
    )
    assert [t.id for t in plan.batches[0].tasks] == ["1.1"]
    assert warnings_of(plan) == [
        (3, "code fence is never closed; everything after it is read as code")
    ]


def test_empty_plan() -> None:
    plan = parse_plan("")
    assert plan.title == "Untitled plan"
    assert plan.batches == []
    assert warnings_of(plan) == [(1, "no tasks found in the plan")]


def test_warnings_are_sorted_by_line() -> None:
    plan = plan_of(
        """
        ## Batch 1: B
        ### Task 1.1: A
        **Dependencies:** 7.7
        ### Task: broken
        """
    )
    assert [w.line for w in plan.warnings] == sorted(w.line for w in plan.warnings)


def test_batch_under_unreadable_phase() -> None:
    plan = plan_of(
        """
        ## Phase: no number
        ### Batch 1: B
        #### Task 1.1: T
        ## Phase 2: Fine
        ### Task 2.1: U
        """
    )
    assert [(b.phase, b.number) for b in plan.batches] == [("2", "2")]
    assert [(w.line, w.message) for w in plan.warnings] == [
        (1, "phase heading 'Phase: no number' has no number; the tasks under it are not run"),
        (3, "task 1.1 is under the unreadable heading at line 1; not run"),
    ]


def test_phase_closed_by_a_sibling_batch_before_any_task_has_no_tasks() -> None:
    plan = plan_of(
        """
        ## Phase 2: Empty
        ## Batch 5: Outside
        ### Task 5.1: A
        """
    )
    assert [(b.phase, b.number) for b in plan.batches] == [(None, "5")]
    assert warnings_of(plan) == [(1, "phase 2 'Empty' has no tasks; nothing to run")]


def test_unreadable_batch_heading_at_the_phase_level_ends_the_phase() -> None:
    plan = plan_of(
        """
        ## Phase 2: P
        ### Task 2.1: A
        ## Batch: setup
        ### Task 9.1: under the broken heading
        ### Batch 3: After
        #### Task 3.1: B
        """
    )
    # Batch 3 is deeper than the broken batch heading, but the phase is already over.
    assert [(b.phase, b.number) for b in plan.batches] == [("2", "2"), (None, "3")]
    assert warnings_of(plan) == [
        (3, "batch heading 'Batch: setup' has no number; the tasks under it are not run"),
        (4, "task 9.1 is under the unreadable heading at line 3; not run"),
    ]


def test_dependency_on_a_later_task_of_the_same_batch() -> None:
    plan = plan_of(
        """
        ## Batch 1: B
        ### Task 1.1: A
        **Dependencies:** 1.2
        ### Task 1.2: B
        **Dependencies:** 1.1
        ## Batch 2: C
        ### Task 2.1: C
        ## Batch 3: D
        ### Task 3.1: D
        **Dependencies:** 2.1
        """
    )
    assert warnings_of(plan) == [
        (
            2,
            "task 1.1 depends on 1.2, which comes later in the same batch; "
            "put 1.2 first or in an earlier batch",
        )
    ]
    # The edge is kept as written; `task_waits` only ever counts earlier tasks.
    assert plan.batches[0].tasks[0].depends_on == ["1.2"]
