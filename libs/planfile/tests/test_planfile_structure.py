"""Phases, batches, tasks and where each task goes."""

from __future__ import annotations

from textwrap import dedent

from cc_planfile import parse_plan
from commandcenter_contracts.plan import Plan


def plan_of(text: str) -> Plan:
    return parse_plan(dedent(text).lstrip("\n"))


def test_title_from_first_h1_outside_frontmatter_and_fences() -> None:
    plan = plan_of(
        """
        ---
        title: From Frontmatter
        ---
        ```
        # Not The Title
        ```
        # Real Title
        ## Batch 1: B
        ### Task 1.1: T
        """
    )
    assert plan.title == "Real Title"


def test_title_from_frontmatter_then_default() -> None:
    assert plan_of("---\ntitle: 'Quoted Title'\n---\n### Task 1.1: T\n").title == "Quoted Title"
    assert plan_of("### Task 1.1: T\n").title == "Untitled plan"


def test_frontmatter_is_skipped() -> None:
    plan = plan_of(
        """
        ---
        title: X
        notes: "## Batch 5: not a batch"
        ---
        ## Batch 1: Real
        ### Task 1.1: T
        """
    )
    assert [b.number for b in plan.batches] == ["1"]
    assert plan.batches[0].line == 5


def test_phase_heading_forms_keep_decorations() -> None:
    plan = plan_of(
        """
        ## Phase 2a: Migration (COMPLETE) ✅
        ### Task 2.1: Move data
        ### Phase 3 - Rollout
        #### Task 3.1: Ship
        """
    )
    assert [(b.phase, b.number, b.title) for b in plan.batches] == [
        ("2a", "2a", "Migration (COMPLETE) ✅"),
        ("3", "3", "Rollout"),
    ]


def test_batch_under_phase() -> None:
    plan = plan_of(
        """
        # Plan
        ## Phase 4: Hardening
        ### Batch 1: Core Infrastructure Gaps
        #### Task 4.1.1: Create Config Validation Service
        #### Task 4.1.2: Add health details
        ### Batch 2: Docs
        #### Task 4.2.1: Write runbook
        """
    )
    assert [(b.phase, b.number, b.title, [t.id for t in b.tasks]) for b in plan.batches] == [
        ("4", "1", "Core Infrastructure Gaps", ["4.1.1", "4.1.2"]),
        ("4", "2", "Docs", ["4.2.1"]),
    ]
    assert plan.batches[0].tasks[0].title == "Create Config Validation Service"
    assert plan.warnings == []


def test_batches_at_h2_with_tasks_at_h3_and_no_phase() -> None:
    plan = plan_of(
        """
        # Plan
        ## Batch 1: First
        ### Task 1.1: A
        ### Task 1.2: B
        ## Batch 2: Second (1 task)
        ### Task 2.1: C
        """
    )
    assert [(b.phase, b.number, b.title, b.line) for b in plan.batches] == [
        (None, "1", "First", 2),
        (None, "2", "Second (1 task)", 5),
    ]
    assert [t.line for t in plan.batches[0].tasks] == [3, 4]


def test_h4_tasks_under_h3_batch() -> None:
    plan = plan_of(
        """
        ### Batch 7: Deep
        #### Task 7.1.1: One
        #### Task 7.1.2: Two ✅
        """
    )
    assert [(t.id, t.title) for t in plan.batches[0].tasks] == [("7.1.1", "One"), ("7.1.2", "Two")]


def test_task_heading_separators_and_emphasis() -> None:
    plan = plan_of(
        """
        ## Batch 1: B
        ### Task 1.1 - Dash
        ### Task 1.2. Dot
        ### Task 1.3 No separator
        ### **Task 1.4:** Bold
        ### Task 5: Plain number
        """
    )
    assert [(t.id, t.title) for t in plan.batches[0].tasks] == [
        ("1.1", "Dash"),
        ("1.2", "Dot"),
        ("1.3", "No separator"),
        ("1.4", "Bold"),
        ("5", "Plain number"),
    ]


def test_tasks_without_any_batch_form_implicit_batch_1() -> None:
    plan = plan_of(
        """
        # Small Plan
        ### Task 1: First
        ### Task 2: Second
        """
    )
    [batch] = plan.batches
    assert (batch.phase, batch.number, batch.title, batch.line) == (None, "1", "Small Plan", 2)
    assert [t.id for t in batch.tasks] == ["1", "2"]
    assert plan.warnings == []


def test_headings_in_fences_are_text() -> None:
    plan = plan_of(
        """
        # Plan
        ## Batch 1: Real
        ### Task 1.1: Real task
        ````markdown
        ## Batch 9: fake
        ### Task 9.1: fake
        ```
        still inside: a shorter fence does not close a longer one
        ```
        ````
        ~~~python title="x.py"
        # Batch 8: fake comment
        ## Batch 8: fake
        ~~~
        **Commit:** feat: real
        """
    )
    assert [b.number for b in plan.batches] == ["1"]
    [task] = plan.batches[0].tasks
    assert task.id == "1.1"
    assert "## Batch 9: fake" in task.body
    assert "## Batch 8: fake" in task.body
    assert task.commit_message == "feat: real"


def test_html_comments_are_not_structure() -> None:
    plan = plan_of(
        """
        ## Batch 1: B
        ### Task 1.1: Kept
        <!--
        ### Task 1.2: Commented out
        -->
        <!-- ### Task 1.3: also commented -->
        """
    )
    assert [t.id for t in plan.batches[0].tasks] == ["1.1"]


def test_ordinary_headings_are_ignored_and_end_sections() -> None:
    plan = plan_of(
        """
        # Plan
        ## Phase 1: One
        ### Overview
        Text.
        ### Task 1.1: A
        Body of A.
        #### Notes
        Still part of A.
        ### Results
        Not part of A.
        ## Phase 1 Summary
        ## Quick Reference
        ### 1. NEVER use `--reload`
        """
    )
    [batch] = plan.batches
    [task] = batch.tasks
    assert "Still part of A." in task.body
    assert "Not part of A." not in task.body
    assert plan.warnings == []


def test_task_body_is_the_section_as_written() -> None:
    text = (
        "## Batch 1: B\r\n### Task 1.1: A\r\n\r\nDo **this**.\r\n\r\n---\r\n\r\n## Batch 2: C\r\n"
    )
    plan = parse_plan(text + "### Task 2.1: D\r\n")
    assert plan.batches[0].tasks[0].body == "### Task 1.1: A\n\nDo **this**."
    assert plan.batches[1].tasks[0].line == 9


def test_crlf_and_bom() -> None:
    plan = parse_plan("\ufeff# T\r\n## Batch 1: B\r\n### Task 1.1: A\r\n**Commit:** x\r\n")
    assert plan.title == "T"
    assert plan.batches[0].tasks[0].commit_message == "x"
    assert plan.batches[0].tasks[0].line == 3


def test_batch_heading_without_title_uses_its_number() -> None:
    plan = plan_of(
        """
        ## Batch 3
        ### Task 3.1: A
        """
    )
    assert plan.batches[0].title == "Batch 3"


def test_batch_heading_shallower_than_phase_ends_the_phase() -> None:
    plan = plan_of(
        """
        ### Phase 1: Inner
        #### Task 1.1: A
        ## Batch 2: Outer
        ### Task 2.1: B
        """
    )
    assert [(b.phase, b.number) for b in plan.batches] == [("1", "1"), (None, "2")]


def test_batch_heading_at_the_phase_level_ends_the_phase() -> None:
    plan = plan_of(
        """
        ## Phase 2: Validation
        ### Batch 1: Inside
        #### Task 2.1.1: A
        ## Batch 5: Sibling of the phase
        ### Task 5.1: B
        ## Phase 3: Reopened
        ### Batch 1: Inside again
        #### Task 3.1.1: C
        ## Batch 6: Sibling again
        ### Task 6.1: D
        """
    )
    assert [(b.phase, b.number, [t.id for t in b.tasks]) for b in plan.batches] == [
        ("2", "1", ["2.1.1"]),
        (None, "5", ["5.1"]),
        ("3", "1", ["3.1.1"]),
        (None, "6", ["6.1"]),
    ]
    assert plan.warnings == []


def test_batch_heading_deeper_than_the_phase_stays_in_the_phase() -> None:
    plan = plan_of(
        """
        ## Phase 2: Validation
        ### Batch 5: Child of the phase
        #### Task 5.1: A
        ### Batch 6: Another child
        #### Task 6.1: B
        """
    )
    assert [(b.phase, b.number) for b in plan.batches] == [("2", "5"), ("2", "6")]


def test_phase_with_direct_tasks_then_a_sibling_batch() -> None:
    plan = plan_of(
        """
        ## Phase 2: Direct
        ### Task 2.1: A
        ## Batch 5: Outside
        ### Task 5.1: B
        """
    )
    assert [(b.phase, b.number, [t.id for t in b.tasks]) for b in plan.batches] == [
        ("2", "2", ["2.1"]),
        (None, "5", ["5.1"]),
    ]
    assert plan.warnings == []


def test_phase_with_direct_tasks_and_batches() -> None:
    plan = plan_of(
        """
        ## Phase 5: Mixed
        ### Task 5.0: Setup
        ### Batch 1: Later
        #### Task 5.1.1: Work
        """
    )
    assert [(b.phase, b.number, [t.id for t in b.tasks]) for b in plan.batches] == [
        ("5", "5", ["5.0"]),
        ("5", "1", ["5.1.1"]),
    ]


def test_h1_is_never_structure() -> None:
    plan = plan_of(
        """
        # Phase 3: The Whole Plan
        ## Batch 1: B
        ### Task 3.1.1: T
        # Appendix
        ### Task 9.1: After the appendix heading
        """
    )
    assert plan.title == "Phase 3: The Whole Plan"
    assert [(b.phase, b.number, [t.id for t in b.tasks]) for b in plan.batches] == [
        (None, "1", ["3.1.1"]),
        (None, "0", ["9.1"]),
    ]
    assert [w.line for w in plan.warnings] == [5]
