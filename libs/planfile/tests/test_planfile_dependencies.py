"""Batch and phase dependencies, and the dependencies a batch selection leaves out."""

from __future__ import annotations

from textwrap import dedent

from cc_planfile import dependencies_outside, parse_plan, select_batches
from commandcenter_contracts.plan import BatchSelection, Plan

PLAN = """\
# Layers
## Batch 1: Base
### Task 1.1: Schema
### Task 1.2: Loader
## Batch 2: API
**Dependencies:** Batch 1
### Task 2.1: Endpoint
### Task 2.2: Client
**Depends on:** 2.1
## Batch 3: Docs
### Task 3.1: Guide
**Depends on:** 2.2
"""


def plan_of(text: str) -> Plan:
    return parse_plan(dedent(text).lstrip("\n"))


def test_a_batch_dependency_becomes_the_task_ids_of_that_batch() -> None:
    plan = plan_of(PLAN)
    assert plan.warnings == []
    api = plan.batches[1]
    assert [t.depends_on for t in api.tasks] == [["1.1", "1.2"], ["2.1", "1.1", "1.2"]]


def test_task_and_phase_references() -> None:
    plan = plan_of(
        """
        # P
        ## Phase 1: Ground
        ### Task 1.1: A
        ## Phase 2: Upper
        **Dependencies:** Phase 1
        ### Batch 1: First of phase 2
        #### Task 2.1.1: B
        **Dependencies:** batches 2 and 7
        """
    )
    [task] = plan.batches[1].tasks
    assert task.depends_on == ["1.1"]
    assert [(w.line, w.message) for w in plan.warnings] == [
        (8, "task 2.1.1 depends on batch 2, which is not in the plan"),
        (8, "task 2.1.1 depends on batch 7, which is not in the plan"),
    ]


def test_a_batch_number_in_several_phases_prefers_the_own_phase() -> None:
    plan = plan_of(
        """
        # P
        ## Phase 1: A
        ### Batch 1: A1
        #### Task 1.1.1: x
        ## Phase 2: B
        ### Batch 1: B1
        #### Task 2.1.1: y
        ### Batch 2: B2
        **Dependencies:** Batch 1
        #### Task 2.2.1: z
        """
    )
    assert plan.batches[2].tasks[0].depends_on == ["2.1.1"]
    assert plan.warnings == []


def test_selecting_a_batch_without_its_dependencies_lists_them() -> None:
    plan = plan_of(PLAN)
    chosen = select_batches(plan, BatchSelection(start_batch="2", end_batch="2"))
    [skipped] = dependencies_outside(plan, chosen)
    assert (skipped.batch, skipped.needs, skipped.tasks) == (
        "batch 2: API",
        "batch 1: Base",
        ["1.1", "1.2"],
    )
    assert skipped.message == (
        "batch 2 'API' depends on tasks 1.1, 1.2 of batch 1 'Base', which this run does not "
        "include; to build on an earlier run of it, set base_ref (--base-ref) to that run's "
        "integration branch"
    )

    later = select_batches(plan, BatchSelection(start_batch="3"))
    assert [s.message.split(" of ")[0] for s in dependencies_outside(plan, later)] == [
        "batch 3 'Docs' depends on task 2.2"
    ]


def test_a_selection_holding_its_dependencies_lists_nothing() -> None:
    plan = plan_of(PLAN)
    assert dependencies_outside(plan, plan.batches) == []
    assert dependencies_outside(plan, select_batches(plan, BatchSelection(end_batch="2"))) == []
    assert dependencies_outside(plan, []) == []


def test_unknown_dependencies_are_the_parsers_warning_not_a_skipped_batch() -> None:
    plan = plan_of("# P\n## Batch 1: B\n### Task 1.1: A\n**Depends on:** 9.9\n")
    assert dependencies_outside(plan, plan.batches) == []
    assert "9.9, which is not in the plan" in plan.warnings[0].message
