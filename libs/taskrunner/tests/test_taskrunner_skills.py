"""Skills in the task runner: time limits from the contract, retry rules, defaults when absent."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from cc_taskrunner import SkillCatalog
from commandcenter.gitfixtures import GitSandbox
from commandcenter_contracts import FailureCode, TaskDispatched, TaskFailed
from taskrunner_support import make_harness, make_task

from tests.support.executors import python_agent, task_for

DEFAULT_S = 1800.0


def write_skill(root: Path, name: str, contract: str = "") -> Path:
    folder = root / name
    folder.mkdir(parents=True, exist_ok=True)
    header = f"name: {name}\ndescription: a test skill\n"
    if contract:
        header += "contract:\n  version: '1.0'\n" + contract
    path = folder / "SKILL.md"
    path.write_text(f"---\n{header}---\n# {name}\nDo it well.\n")
    return path


TIMED = "  timeouts:\n    default_ms: 2000\n    max_ms: 5000\n"
RETRIES = (
    "  errors:\n"
    "  - code: AGENT_FAILED\n    recoverable: true\n"
    "  - code: NO_CHANGES\n    recoverable: false\n"
    "  retries:\n    max_attempts: 2\n"
)


def _task(skill: str | None, timeout_s: float = 60.0) -> TaskDispatched:
    return task_for("/repo", "run-1", skill=skill, timeout_s=timeout_s)


@pytest.fixture
def skills(tmp_path: Path) -> Path:
    root = tmp_path / "skills"
    write_skill(root, "timed", TIMED)
    write_skill(root, "plain")
    write_skill(root, "retrying", RETRIES)
    return root


@pytest.mark.parametrize(
    ("skill", "requested", "expected"),
    [
        ("timed", 60.0, 5.0),  # requested above max_ms: capped
        ("timed", 3.0, 3.0),  # within the limit: as requested
        ("timed", 0.0, 2.0),  # none requested: the contract's default_ms
        ("plain", 60.0, 60.0),  # a contract without timeouts: the request
        ("plain", 0.0, DEFAULT_S),  # ... or the global default
        (None, 60.0, 60.0),  # no skill
        (None, 0.0, DEFAULT_S),
    ],
)
def test_the_time_limit_comes_from_the_skill_contract(
    skills: Path, skill: str | None, requested: float, expected: float
) -> None:
    assert SkillCatalog(skills).timeout_s(_task(skill, requested), DEFAULT_S) == expected


def test_retry_rules_come_from_the_contract(skills: Path) -> None:
    catalog = SkillCatalog(skills)
    assert catalog.recoverable_codes(_task("retrying")) == {"AGENT_FAILED"}
    assert catalog.max_attempts(_task("retrying")) == 2
    assert catalog.recoverable_codes(_task("timed")) == frozenset()
    assert catalog.max_attempts(_task("timed")) is None  # no `retries`: the setting decides
    assert catalog.max_attempts(_task(None)) is None


def test_a_missing_skill_is_a_warning_and_the_defaults(
    skills: Path, caplog: pytest.LogCaptureFixture
) -> None:
    catalog = SkillCatalog(skills)
    with caplog.at_level(logging.WARNING, logger="cc_taskrunner.skills"):
        for _ in range(3):
            assert catalog.timeout_s(_task("nowhere", 60.0), DEFAULT_S) == 60.0
            assert catalog.max_attempts(_task("nowhere")) is None
            assert catalog.text("nowhere") is None
    assert len([r for r in caplog.records if "nowhere" in r.getMessage()]) == 1  # once
    unset = SkillCatalog(None)
    assert unset.timeout_s(_task("timed", 0.0), DEFAULT_S) == DEFAULT_S
    assert SkillCatalog(skills).get("../timed") is None


def test_a_skill_with_a_bad_contract_keeps_its_text_but_not_its_rules(
    skills: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write_skill(skills, "broken", "  timeouts:\n    default_ms: 9000\n    max_ms: 10\n")
    catalog = SkillCatalog(skills)
    with caplog.at_level(logging.WARNING, logger="cc_taskrunner.skills"):
        assert catalog.timeout_s(_task("broken", 60.0), DEFAULT_S) == 60.0
    assert "broken" in caplog.text
    assert catalog.text("broken") == "# broken\nDo it well."


def test_skills_are_read_once(skills: Path) -> None:
    catalog = SkillCatalog(skills)
    assert catalog.timeout_s(_task("timed", 0.0), DEFAULT_S) == 2.0
    write_skill(skills, "timed", "  timeouts:\n    default_ms: 7000\n    max_ms: 9000\n")
    assert catalog.timeout_s(_task("timed", 0.0), DEFAULT_S) == 2.0  # cached
    assert SkillCatalog(skills).timeout_s(_task("timed", 0.0), DEFAULT_S) == 7.0


@pytest.mark.integration
async def test_the_skill_caps_a_running_agent(
    skills: Path, tmp_path: Path, git_sandbox: GitSandbox
) -> None:
    write_skill(skills, "quick", "  timeouts:\n    default_ms: 1000\n    max_ms: 1000\n")
    harness = make_harness(tmp_path, skills_dir=skills)
    fields: dict[str, Any] = {"skill": "quick", "timeout_s": 300.0}
    task = make_task(git_sandbox, agent=python_agent("import time; time.sleep(60)"), **fields)
    outcome = await harness.runner.run(task)
    assert isinstance(outcome, TaskFailed), outcome
    assert outcome.error_code is FailureCode.TIMEOUT
    assert "longer than 1s" in outcome.message
