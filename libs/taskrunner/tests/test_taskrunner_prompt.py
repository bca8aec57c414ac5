"""The prompt an agent reads, and the trailers that tie a commit to a task attempt."""

from __future__ import annotations

from pathlib import Path

from cc_taskrunner import SkillCatalog, build_prompt, is_commit_of, task_commit_message
from cc_taskrunner.commits import parse_trailers, with_trailers
from commandcenter_contracts import TaskDispatched


def _task(**overrides: object) -> TaskDispatched:
    fields: dict[str, object] = {
        "run_id": "run-1",
        "task_id": "task-1",
        "attempt": 2,
        "plan_task_id": "4.1.2",
        "batch_index": 0,
        "title": "Create Config Validation Service",
        "body": "**Implementation:**\nWrite the service.\n",
        "files": ["src/config.py"],
        "verification": ["pytest tests/test_config.py"],
        "verification_notes": ["The service rejects unknown keys"],
        "branch": "cc/run-1/4-1-2-config",
        "repo": "/repo",
        "skill": "python-service",
    }
    fields.update(overrides)
    return TaskDispatched(**fields)  # type: ignore[arg-type]


def test_the_prompt_has_body_files_checks_and_skill() -> None:
    prompt = build_prompt(_task(), skill_text="Use dataclasses.")
    assert prompt.startswith("# Task 4.1.2: Create Config Validation Service\n")
    for part in (
        "Write the service.",
        "- src/config.py",
        "- run `pytest tests/test_config.py`",
        "- The service rejects unknown keys",
        "`cc/run-1/4-1-2-config`",
        "## Skill: python-service\n\nUse dataclasses.",
    ):
        assert part in prompt


def test_skill_text_is_read_without_frontmatter(tmp_path: Path) -> None:
    (tmp_path / "python-service").mkdir()
    (tmp_path / "python-service" / "SKILL.md").write_text(
        "---\nname: python-service\ndescription: x\n---\n# Python services\nBe strict.\n"
    )
    assert SkillCatalog(tmp_path).text("python-service") == "# Python services\nBe strict."
    assert SkillCatalog(tmp_path).text("missing") is None
    assert SkillCatalog(tmp_path).text("../python-service") is None
    assert SkillCatalog(None).text("python-service") is None


def test_commit_messages_end_with_the_attempt_trailers() -> None:
    task = _task(commit_message="feat(config): add validation")
    message = task_commit_message(task)
    assert message.splitlines()[0] == "feat(config): add validation"
    assert message.rstrip().splitlines()[-3:] == [
        "CommandCenter-Run: run-1",
        "CommandCenter-Task: task-1",
        "CommandCenter-Attempt: 2",
    ]
    assert is_commit_of(message, task)
    assert not is_commit_of(message, _task(attempt=3))
    assert not is_commit_of(message, _task(task_id="task-2"))
    assert task_commit_message(_task()).startswith("Create Config Validation Service\n")


def test_an_agent_commit_gets_this_attempts_trailers_once() -> None:
    task = _task()
    older = with_trailers("agent: did it\n\nbody", _task(attempt=1))
    marked = with_trailers(older, task)
    assert marked.startswith("agent: did it\n\nbody\n\n")
    assert parse_trailers(marked)["CommandCenter-Attempt"] == "2"
    assert marked.count("CommandCenter-Task") == 1


def test_a_delivery_recognises_the_commits_of_any_attempt_of_its_message() -> None:
    message = task_commit_message(_task(attempt=2))
    # attempt 3, a redelivery of a message whose first attempt was 2: its commit counts
    assert is_commit_of(message, _task(attempt=3), since_attempt=2)
    assert is_commit_of(message, _task(attempt=2), since_attempt=1)
    # a replay (its message starts at attempt 3) never takes attempt 2's commit
    assert not is_commit_of(message, _task(attempt=3), since_attempt=3)
    assert not is_commit_of(message, _task(task_id="task-2", attempt=3), since_attempt=1)
    assert not is_commit_of("no trailers\n", _task(), since_attempt=1)
    assert not is_commit_of(
        "x\n\nCommandCenter-Task: task-1\nCommandCenter-Attempt: two\n", _task(), since_attempt=1
    )
