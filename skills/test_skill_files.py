"""The skill files of this repository: they load, and what they teach is what the code does."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from cc_planfile import parse_plan
from cc_skills import load_skills
from commandcenter_contracts import FailureCode

SKILLS_DIR = Path(__file__).parent


@pytest.fixture(scope="module")
def skills():  # type: ignore[no-untyped-def]
    return load_skills(SKILLS_DIR)


def test_each_skill_is_named_after_its_folder(skills) -> None:  # type: ignore[no-untyped-def]
    assert {"operations", "plan-authoring"} <= set(skills)
    for name, skill in skills.items():
        assert skill.path.parent.name == name


def test_the_operations_failure_table_covers_every_task_failure_code(skills) -> None:  # type: ignore[no-untyped-def]
    body = skills["operations"].body
    table = body[body.index("## Common failures") :]
    for code in FailureCode:
        if code is FailureCode.BAD_MESSAGE or code is FailureCode.INFRA:
            continue  # not a task outcome a user fixes; INFRA is in the contract's errors
        assert f"`{code.value}`" in table, code


def test_the_operations_contract_agrees_with_the_recoverable_codes(skills) -> None:  # type: ignore[no-untyped-def]
    from commandcenter_contracts import is_recoverable

    contract = skills["operations"].meta.contract
    for error in contract.errors:
        assert error.recoverable == is_recoverable(FailureCode(error.code)), error.code


def test_the_plan_follower_example_parses_as_the_skill_says(skills) -> None:  # type: ignore[no-untyped-def]
    body = skills["plan-authoring"].body
    example = re.search(r"````markdown\n(.*?)````", body, re.S)
    assert example is not None
    plan = parse_plan(example.group(1), source="plan-authoring example")
    assert plan.warnings == []
    (task,) = plan.batches[0].tasks
    assert task.id == "1.1"
    assert task.files == ["src/hello.txt"]
    assert task.verification == ["test -s src/hello.txt"]
    assert task.commit_message == "feat: add the greeting"
