"""Skill files: the seed's format loads, every skill in the repository loads, bad files are
refused with the file and the field named."""

from __future__ import annotations

from pathlib import Path

import pytest
from cc_skills import (
    Skill,
    SkillError,
    load_skill,
    load_skill_body,
    load_skills,
    parse_skill,
    skill_body,
)

FIXTURES = Path(__file__).parent / "fixtures"
SEED = FIXTURES / "seed-operations-SKILL.md"
"""A verbatim copy of the old system's operations skill (shared/seed/operations-SKILL.md)."""
REPO_SKILLS = Path(__file__).resolve().parents[3] / "skills"

MINIMAL = """---
name: tiny
description: A tiny skill
---
Body text.
"""

FULL = """---
status: draft
name: full-skill
description: Everything set
priority: P1
updated: '2026-02-03'
contract:
  version: '2.0'
  inputs:
    required:
    - name: task
      type: string
      description: what to do
    optional:
    - name: hint
      type: string
  outputs:
  - name: result
    type: object
    properties:
      ok:
        type: boolean
  errors:
  - code: FLAKY
    description: try again
    recoverable: true
  - code: WRONG
    description: do not
    recoverable: false
  side_effects:
  - type: git_commit
    description: commits
  auth_scopes:
  - scope: git:push
    required: true
  timeouts:
    default_ms: 60000
    max_ms: 600000
  retries:
    max_attempts: 3
---

# Full

Text.
"""


def _skill(tmp_path: Path, text: str, name: str = "x") -> Path:
    path = tmp_path / name / "SKILL.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_the_seed_file_loads() -> None:
    skill = load_skill(SEED)
    assert skill.name == "operations"
    assert skill.meta.status == "active" and skill.meta.priority == "P0"
    assert skill.meta.updated == "2026-01-12"  # YAML read it as a date
    contract = skill.meta.contract
    assert contract is not None and contract.version == "1.0"
    assert [p.name for p in contract.inputs.required] == ["task_description"]
    assert contract.outputs[0].properties["success"] == {"type": "boolean"}
    assert [s.type for s in contract.side_effects] == [
        "file_write",
        "git_commit",
        "api_call",
        "database_write",
    ]
    assert [(a.scope, a.required) for a in contract.auth_scopes] == [
        ("file:write", True),
        ("git:commit", False),
    ]
    assert skill.body.startswith("# CommandCenter Operations")
    assert skill.recoverable_codes() == {"SKILL_EXECUTION_FAILED"}
    assert skill.max_attempts == 1


def test_every_skill_in_the_repository_loads() -> None:
    paths = sorted(REPO_SKILLS.glob("*/SKILL.md"))
    assert {p.parent.name for p in paths} >= {"operations", "plan-authoring"}
    skills = load_skills(REPO_SKILLS)
    assert len(skills) == len(paths)
    for skill in skills.values():
        assert skill.name == skill.path.parent.name, "a skill's name is its folder's name"
        assert skill.meta.contract is not None, f"{skill.path}: every skill has a contract"
        assert skill.body.strip()


def test_full_contract_and_helpers(tmp_path: Path) -> None:
    skill = load_skill(_skill(tmp_path, FULL))
    assert skill.meta.status == "draft"
    assert skill.recoverable_codes() == {"FLAKY"}
    assert skill.max_attempts == 3
    assert skill.attempt_limit == 3
    assert skill.timeout_s(None, default=1800) == 60
    assert skill.timeout_s(120, default=1800) == 120
    assert skill.timeout_s(10_000, default=1800) == 600  # clamped to max_ms
    assert skill.body.startswith("# Full")


def test_helpers_without_a_contract(tmp_path: Path) -> None:
    skill = load_skill(_skill(tmp_path, MINIMAL))
    assert skill.meta.contract is None
    assert skill.timeout_s(None, default=1800) == 1800
    assert skill.timeout_s(99, default=1800) == 99
    assert skill.recoverable_codes() == set()
    assert skill.max_attempts == 1
    assert skill.attempt_limit is None  # no `retries`: the caller's own limit applies
    assert skill.body == "Body text.\n"


def test_load_skills_keys_by_name(tmp_path: Path) -> None:
    _skill(tmp_path, MINIMAL, "tiny")
    _skill(tmp_path, FULL, "full-skill")
    (tmp_path / "not-a-skill").mkdir()
    skills = load_skills(tmp_path)
    assert sorted(skills) == ["full-skill", "tiny"]
    assert isinstance(skills["tiny"], Skill)


def test_two_skills_with_one_name_are_refused(tmp_path: Path) -> None:
    _skill(tmp_path, MINIMAL, "a")
    _skill(tmp_path, MINIMAL, "b")
    with pytest.raises(SkillError, match="'tiny' is already used"):
        load_skills(tmp_path)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (MINIMAL.replace("name: tiny", "name: tiny\ncolour: blue"), r"unknown field `colour`"),
        (MINIMAL.replace("name: tiny\n", ""), r"missing required field `name`"),
        (MINIMAL.replace("name: tiny", "name: 42"), r"Expected `str`, got `int` - at `\$.name`"),
        (
            FULL.replace("max_attempts: 3", "max_attempts: 0"),
            r"`\$.contract.retries.max_attempts`",
        ),
        (
            FULL.replace("    recoverable: true", "    recoverable: true\n    retry: 2"),
            r"unknown field `retry` - at `\$.contract.errors\[0\]`",
        ),
        (
            FULL.replace("default_ms: 60000", "default_ms: 9000000"),
            r"default_ms \(9000000\) is above max_ms",
        ),
        (FULL.replace("version: '2.0'", "version: 2.0"), r"`\$.contract.version`"),
        (MINIMAL.replace("name: tiny", "name: Tiny Skill"), r"`\$.name`"),
        (MINIMAL.replace("---\nname", "---\nstatus: retired\nname"), r"`\$.status`"),
        (MINIMAL.replace("name: tiny", "name: tiny\nupdated: last week"), r"`\$.updated`"),
        ("no frontmatter here\n", "does not start with a '---' frontmatter line"),
        ("---\nname: x\n", "not closed"),
        ("---\nname: [unclosed\n---\n", "not valid YAML"),
        ("---\n- a\n- b\n---\n", "must be a mapping"),
    ],
    ids=[
        "unknown-field",
        "missing-name",
        "wrong-type",
        "zero-attempts",
        "nested-unknown-field",
        "default-above-max",
        "float-version",
        "bad-name",
        "bad-status",
        "bad-date",
        "no-frontmatter",
        "unclosed",
        "bad-yaml",
        "not-a-mapping",
    ],
)
def test_bad_files_name_the_file_and_the_problem(tmp_path: Path, text: str, expected: str) -> None:
    path = _skill(tmp_path, text)
    with pytest.raises(SkillError, match=expected) as info:
        load_skill(path)
    assert str(path) in str(info.value)


def test_a_missing_file_is_a_skill_error(tmp_path: Path) -> None:
    with pytest.raises(SkillError, match="cannot read"):
        load_skill(tmp_path / "nope" / "SKILL.md")
    with pytest.raises(SkillError, match="not a directory"):
        load_skills(tmp_path / "nope")


def test_parse_skill_accepts_a_datetime_for_updated() -> None:
    skill = parse_skill(
        MINIMAL.replace("name: tiny", "name: tiny\nupdated: 2026-01-12 10:00:00"), Path("x")
    )
    assert skill.meta.updated is not None and skill.meta.updated.startswith("2026-01-12")


@pytest.mark.parametrize(
    ("text", "body"),
    [
        (MINIMAL, "Body text.\n"),
        (MINIMAL.replace("name: tiny", "name: Tiny Skill\ncolour: blue"), "Body text.\n"),
        ("---\nname: [unclosed\n---\n\n# Guide\n", "# Guide\n"),
        ("# No frontmatter\nText.\n", "# No frontmatter\nText.\n"),
        ("---\nname: x\n# never closed\n", "---\nname: x\n# never closed\n"),
    ],
    ids=["valid", "invalid-contract", "bad-yaml", "no-frontmatter", "unclosed"],
)
def test_the_body_is_read_whatever_the_frontmatter_holds(
    tmp_path: Path, text: str, body: str
) -> None:
    assert skill_body(text) == body
    assert load_skill_body(_skill(tmp_path, text)) == body


def test_the_body_of_a_missing_file_is_a_skill_error(tmp_path: Path) -> None:
    with pytest.raises(SkillError, match="cannot read"):
        load_skill_body(tmp_path / "nope" / "SKILL.md")
