"""Tasks written as table rows."""

from __future__ import annotations

from textwrap import dedent

from cc_planfile import parse_plan
from commandcenter_contracts.plan import Plan


def plan_of(text: str) -> Plan:
    return parse_plan(dedent(text).lstrip("\n"))


def test_table_rows_are_tasks_header_and_separator_are_not() -> None:
    plan = plan_of(
        """
        ## Batch 1: Tables
        | Task | Description | Files |
        |------|:-----------:|-------|
        | 1.1 | First | `a.py` |
        | **Task 1.2** | Second ✅ | `b.py`, `c/d.py:3-9` |
        | 1.3 | Third | e.py, f/g.py |
        """
    )
    tasks = plan.batches[0].tasks
    assert [(t.id, t.title, t.files, t.line) for t in tasks] == [
        ("1.1", "First", ["a.py"], 4),
        ("1.2", "Second", ["b.py", "c/d.py"], 5),
        ("1.3", "Third", ["e.py", "f/g.py"], 6),
    ]
    assert tasks[0].body == (
        "| Task | Description | Files |\n|------|:-----------:|-------|\n| 1.1 | First | `a.py` |"
    )
    assert plan.warnings == []


def test_title_column_by_name_and_optional_columns() -> None:
    plan = plan_of(
        """
        ## Batch 2: Named columns
        | ID | Owner | Title | Depends on | Verification |
        |----|-------|-------|------------|--------------|
        | 1 | ann | Build | - | `pytest -q` |
        | 2 | bob | Ship | Task 1 | Release notes are published |
        """
    )
    first, second = plan.batches[0].tasks
    assert (first.id, first.title, first.verification) == ("1", "Build", ["pytest -q"])
    assert (second.title, second.depends_on) == ("Ship", ["1"])
    assert second.verification_notes == ["Release notes are published"]


def test_plain_numbers_are_not_ids_without_an_id_header() -> None:
    plan = plan_of(
        """
        ## Batch 1: B
        ### Task 1.1: Real
        ## Batch 2: Metrics
        | Phase | Purpose |
        |-------|---------|
        | 1 | Pipeline |
        """
    )
    assert [len(b.tasks) for b in plan.batches] == [1, 0]


def test_table_inside_a_task_section_is_body_text() -> None:
    plan = plan_of(
        """
        ## Batch 1: B
        ### Task 1.1: Has a table
        | Task | Description |
        |------|-------------|
        | 1.2 | Mentioned only |
        """
    )
    assert [t.id for t in plan.batches[0].tasks] == ["1.1"]
    assert "| 1.2 | Mentioned only |" in plan.batches[0].tasks[0].body


def test_row_without_title_is_a_warning() -> None:
    plan = plan_of(
        """
        ## Batch 1: B
        | Task | Description |
        |------|-------------|
        | 1.1 |  |
        | 1.2 | Fine |
        | Task 1.x | Broken id |
        """
    )
    assert [t.id for t in plan.batches[0].tasks] == ["1.2"]
    assert [(w.line, w.message) for w in plan.warnings] == [
        (4, "table row for task 1.1 has no title; not run"),
        (6, "table row 'Task 1.x' has a malformed task id; not run"),
    ]


def test_table_rows_outside_batches_are_warnings_not_tasks() -> None:
    plan = plan_of(
        """
        # Plan
        ## Status
        | Task | Status |
        |------|--------|
        | 3.1.1 | done |
        ## Batch 1: B
        ### Task 1.1: Real
        """
    )
    assert [t.id for b in plan.batches for t in b.tasks] == ["1.1"]
    assert [(w.line, w.message) for w in plan.warnings] == [
        (5, "table row for task 3.1.1 is not under any batch or phase; not run")
    ]


def test_escaped_pipe_in_cell() -> None:
    plan = plan_of(
        """
        ## Batch 1: B
        | Task | Description |
        |------|-------------|
        | 1.1 | Parse a \\| b |
        """
    )
    assert plan.batches[0].tasks[0].title == "Parse a | b"
