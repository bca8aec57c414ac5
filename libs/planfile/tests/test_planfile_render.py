"""`plan show` as text: each task's checks and notes, counts written right."""

from __future__ import annotations

from textwrap import dedent

from cc_planfile import parse_plan, render_text
from cc_planfile.render import plural


def test_tasks_show_their_commands_and_notes() -> None:
    plan = parse_plan(
        dedent(
            """\
            # Greeting
            ## Batch 1: Foundations (2 tasks)
            ### Task 1.1: Create the greeting
            **Verification:**
            - `test -s src/hello.txt`
            - test -s a
            ### Task 1.2: Docs
            ## Batch 2: Packaging
            ### Task 2.1: Package
            """
        )
    )
    assert render_text(plan).splitlines() == [
        "Greeting",
        "  batch 1: Foundations (2 tasks)",
        "    1.1      Create the greeting",
        "               check: test -s src/hello.txt",
        "               note (not run): test -s a",
        "    1.2      Docs",
        "  batch 2: Packaging  (1 task)",
        "    2.1      Package",
    ]


def test_a_count_in_the_title_that_is_wrong_is_corrected() -> None:
    plan = parse_plan("# P\n## Phase 3: Core (3 tasks)\n### Task 3.1: Only one\n")
    assert render_text(plan).splitlines()[1] == "  phase 3 batch 3: Core (3 tasks)  (1 task read)"


def test_multi_line_notes_warnings_and_notes() -> None:
    plan = parse_plan(
        dedent(
            """\
            # P
            ## Batch 1: B
            ### Task 1.1: A
            **Files:** `a.py`
            **Verification:**
            ```python
            assert True
            assert 1
            ```
            ### Task 1.2: B
            **Files:** `a.py`
            ### Taks 1.3: C
            """
        )
    )
    lines = render_text(plan).splitlines()
    assert lines[3:5] == [
        "               note (not run): assert True",
        "                 assert 1",
    ]
    assert lines[-2].startswith("  note: batch 1: tasks 1.1 and 1.2 both change a.py")
    assert lines[-1].startswith("  warning: line 12: heading 'Taks 1.3: C'")


def test_plural() -> None:
    assert [plural(n, "task") for n in (0, 1, 2)] == ["0 tasks", "1 task", "2 tasks"]
