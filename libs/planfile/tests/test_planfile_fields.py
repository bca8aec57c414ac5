"""`**Field:**` sections of a task: files, dependencies, verification, commit, skill, mode."""

from __future__ import annotations

from textwrap import dedent

import pytest
from cc_planfile import parse_plan
from cc_planfile.fields import fence_commands, strip_line_range, verification_command
from commandcenter_contracts.plan import Plan, PlanTask


def plan_of(text: str) -> Plan:
    return parse_plan(dedent(text).lstrip("\n"))


def only_task(text: str) -> PlanTask:
    plan = plan_of("## Batch 1: B\n### Task 1.1: T\n" + dedent(text).lstrip("\n"))
    [task] = plan.batches[0].tasks
    return task


def test_files_prefixes_backticks_and_line_ranges() -> None:
    task = only_task(
        """
        **Files:**
        - Create: `src/app/config.py`
        - Modify: `src/app/main.py:12-30`
        - Test: tests/test_config.py
        - `docs/a.md`, `docs/b.md` - both updated (see `docs/c.md`)
        - **Update:** README.md (mention the flag)
        - `src/x.py:27-54, 191-207`
        - `src/y.py#L3-L9`
        """
    )
    assert task.files == [
        "src/app/config.py",
        "src/app/main.py",
        "tests/test_config.py",
        "docs/a.md",
        "docs/b.md",
        "README.md",
        "src/x.py",
        "src/y.py",
    ]


def test_files_same_line_value_and_aliases() -> None:
    task = only_task(
        """
        **Files Modified:** `backend/a.py:88-147`, `backend/b.py`

        **Files to Create:**
        - new/c.py
        """
    )
    assert task.files == ["backend/a.py", "backend/b.py", "new/c.py"]


def test_files_plain_fence_is_read_and_tree_is_a_warning() -> None:
    plan = plan_of(
        """
        ## Batch 1: B
        ### Task 1.1: Plain
        **Files:**
        ```
        src/a.py
        src/b.py  # comment
        ```
        ### Task 1.2: Tree
        **Files:**
        ```
        src/
        ├── a.py
        ```
        """
    )
    plain, tree = plan.batches[0].tasks
    assert plain.files == ["src/a.py", "src/b.py"]
    assert tree.files == []
    assert [w.line for w in plan.warnings] == [10]  # the fence's opening line
    assert "file tree" in plan.warnings[0].message


def test_files_prose_item_is_a_warning() -> None:
    plan = plan_of(
        """
        ## Batch 1: B
        ### Task 1.1: T
        **Files:**
        - Update whatever is needed
        - None
        """
    )
    assert plan.batches[0].tasks[0].files == []
    assert [(w.line, w.message) for w in plan.warnings] == [
        (4, "task 1.1: Files item 'Update whatever is needed' has no path; ignored")
    ]


def test_strip_line_range() -> None:
    assert strip_line_range("a/b.py:12-30") == "a/b.py"
    assert strip_line_range("a/b.py:12") == "a/b.py"
    assert strip_line_range("a/b.py:27-54, 191-207") == "a/b.py"
    assert strip_line_range("a/b.py#L3-L9") == "a/b.py"
    assert strip_line_range("a/b.py") == "a/b.py"
    assert strip_line_range("c:/x") == "c:/x"


def test_dependencies() -> None:
    plan = plan_of(
        """
        ## Batch 1: B
        ### Task 1.1: A
        **Dependencies:** None
        ### Task 1.2: B
        **Depends on:** Task 1.1
        ### Task 1.3: C
        **Dependencies:**
        - 1.1 (schema)
        - Task 1.2
        ### Task 1.4: D
        **Dependencies:** N/A
        """
    )
    tasks = plan.batches[0].tasks
    assert [t.depends_on for t in tasks] == [[], ["1.1"], ["1.1", "1.2"], []]
    assert plan.warnings == []


def test_dependency_without_ids_and_unknown_ids_are_warnings() -> None:
    plan = plan_of(
        """
        ## Batch 1: B
        ### Task 1.1: A
        **Dependencies:** the schema work
        ### Task 1.2: B
        **Dependencies:** 9.9, 1.2
        """
    )
    assert [(w.line, w.message) for w in plan.warnings] == [
        (3, "task 1.1: dependency 'the schema work' names no task id"),
        (4, "task 1.2 depends on itself; ignored"),
        (4, "task 1.2 depends on 9.9, which is not in the plan"),
    ]
    assert plan.batches[0].tasks[1].depends_on == ["9.9"]


def test_verification_inline_code_items() -> None:
    task = only_task(
        """
        **Verification:**
        - `pytest tests/ -q`
        - `ruff check .` - no errors
        - `mypy src`: passes
        - Run `make test`
        - Run: `make lint`
        - `$ npm test`
        - [ ] `pytest -k smoke` (fast)
        - `pytest tests/api` passes
        - Check that `config.py` exists
        - File exists at scripts/out.txt
        """
    )
    assert task.verification == [
        "pytest tests/ -q",
        "ruff check .",
        "mypy src",
        "make test",
        "make lint",
        "npm test",
        "pytest -k smoke",
    ]
    assert task.verification_notes == [
        "`pytest tests/api` passes",
        "Check that `config.py` exists",
        "File exists at scripts/out.txt",
    ]


def test_verification_same_line_and_paragraph() -> None:
    task = only_task(
        """
        **Verification:** `pytest -q`

        The page renders without errors
        in both themes.
        """
    )
    assert task.verification == ["pytest -q"]
    assert task.verification_notes == ["The page renders without errors in both themes."]


def test_verification_fenced_blocks() -> None:
    task = only_task(
        """
        **Verification:**
        ```bash
        # run the unit tests
        $ pytest tests/unit -q

        python -m mypy \\
          src
        ```
        ~~~console
        $ curl -s localhost:8001/health
        {"status": "ok"}
        ~~~
        ```python
        assert load() == 1
        ```
        Expected: all green
        """
    )
    assert task.verification == [
        "pytest tests/unit -q",
        "python -m mypy src",
        "curl -s localhost:8001/health",
    ]
    assert task.verification_notes == ["assert load() == 1", "Expected: all green"]


def test_verification_section_ends_at_next_field() -> None:
    task = only_task(
        """
        **Verification:**
        - `pytest`
        **Expected:** green
        - `not a command of verification`
        """
    )
    assert task.verification == ["pytest"]
    assert task.verification_notes == []


def test_list_item_field_labels() -> None:
    task = only_task(
        """
        - **Files:** `a.py`
        - **Verification:** `pytest a`
          - **Expected:** PASS
        - **Commit:** `feat: a`
        """
    )
    assert task.files == ["a.py"]
    assert task.verification == ["pytest a"]
    assert task.verification_notes == ["**Expected:** PASS"]
    assert task.commit_message == "feat: a"


def test_field_as_subheading() -> None:
    task = only_task(
        """
        #### Verification
        - `pytest b`
        #### Notes
        - `not verification`
        """
    )
    assert task.verification == ["pytest b"]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("**Commit:** feat(benchmark): Add Task A output", "feat(benchmark): Add Task A output"),
        ("**Commit:** `fix: race`", "fix: race"),
        ('**Commit:** "docs: quoted"', "docs: quoted"),
        ("**Commit:**\n- `chore: listed`", "chore: listed"),
        ('**Commit:**\n```bash\ngit add .\ngit commit -m "feat: fenced"\n```', "feat: fenced"),
        ("**Commit Message:** refactor: alias", "refactor: alias"),
    ],
)
def test_commit_message(value: str, expected: str) -> None:
    assert only_task(value + "\n").commit_message == expected


def test_skill_and_execution_mode() -> None:
    task = only_task(
        """
        **Skill:** `test-driven-development`
        **Execution Mode:** **parallel**
        """
    )
    assert task.skill == "test-driven-development"
    assert task.execution_mode == "parallel"


def test_fields_absent() -> None:
    task = only_task("Just do it.\n")
    assert (task.files, task.depends_on, task.verification, task.verification_notes) == (
        [],
        [],
        [],
        [],
    )
    assert (task.commit_message, task.skill, task.execution_mode) == (None, None, None)


def test_fields_inside_fences_are_ignored() -> None:
    task = only_task(
        """
        ```markdown
        **Files:** `fake.py`
        ```
        """
    )
    assert task.files == []


def test_verification_command_rule_directly() -> None:
    assert verification_command("`a b`") == "a b"
    assert verification_command("``echo `x` ``") == "echo `x`"
    assert verification_command("`a` and `b`") is None
    assert verification_command("`a`.") == "a"
    assert verification_command("Runs `a`") is None
    assert verification_command("``") is None
    assert fence_commands("text", ["x"]) is None
    assert fence_commands("sh", ["a \\", "  b \\"]) == ["a b"]


def test_max_turns_and_model_are_read_per_task() -> None:
    from cc_planfile import parse_plan

    plan = parse_plan(
        "# P\n\n## Batch 1: B\n\n### Task 1.1: One\n\n**Max turns:** 40\n**Model:** opus\n\n"
        "### Task 1.2: Two\n\n**Max turns:** lots\n",
        source="<test>",
    )
    one, two = plan.batches[0].tasks
    assert (one.max_turns, one.model) == (40, "opus")
    assert (two.max_turns, two.model) == (None, None)
    assert [w.line for w in plan.warnings] == [12]
    assert "Max turns 'lots'" in plan.warnings[0].message
