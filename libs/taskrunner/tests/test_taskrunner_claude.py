"""The Claude agent driven for real: the pinned Claude Code CLI (`make claude`) against a fake
Messages API that plays scripted turns (`tests/support/fake_anthropic.py`), through the task
runner on real git repositories. Nothing of ours is faked; the model is."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest
from commandcenter.gitfixtures import GitSandbox, git
from commandcenter.tools import installed_claude
from commandcenter_contracts import AgentSpec, FailureCode, TaskFailed, TaskSucceeded
from taskrunner_support import Harness, make_harness, make_task

from tests.support.fake_anthropic import FakeAnthropic, bash, failing, say, write

pytestmark = pytest.mark.integration

KEY = "sk-ant-api03-test-key-0123456789"


@pytest.fixture
def claude_cli() -> Path:
    found = installed_claude()
    if found is None:
        pytest.fail("the pinned Claude Code CLI is not installed: run `make claude`")
    return found


@pytest.fixture
def fake_api(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeAnthropic]:
    with FakeAnthropic(api_key=KEY) as fake:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", fake.url)
        monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
        yield fake


def _harness(tmp_path: Path, claude_cli: Path, **settings: object) -> Harness:
    settings.setdefault("claude_max_retries", 0)
    return make_harness(tmp_path, claude_bin=str(claude_cli), **settings)


def _claude_task(sandbox: GitSandbox, marker: str, **fields: object) -> object:
    return make_task(
        sandbox,
        title=f"Write the greeting ({marker})",
        body=f"Write `notes/hello.txt` saying hello. {marker}",
        agent=AgentSpec(name="claude"),
        verification=["test -s notes/hello.txt"],
        **fields,
    )


async def test_a_real_edit_is_committed_verified_and_pushed_with_its_cost(
    git_sandbox: GitSandbox, tmp_path: Path, claude_cli: Path, fake_api: FakeAnthropic
) -> None:
    fake_api.script(
        "EDIT-1",
        write("{cwd}/notes/hello.txt", "hello\n", "I'll write the file."),
        bash("test -s notes/hello.txt", "Checking it."),
        say("The greeting is written."),
    )
    harness = _harness(tmp_path, claude_cli)
    task = _claude_task(git_sandbox, "EDIT-1")
    outcome = await harness.runner.run(task)  # type: ignore[arg-type]

    assert isinstance(outcome, TaskSucceeded), outcome
    assert git_sandbox.file_at(outcome.branch, "notes/hello.txt") == "hello\n"
    log = harness.sink.text()
    assert "→ Write " in log and "notes/hello.txt" in log
    assert "→ Bash test -s notes/hello.txt" in log and "← Bash test -s notes/hello.txt: ok" in log
    assert "I'll write the file." in log
    usage = outcome.usage
    assert usage is not None
    assert usage.turns == 3 and usage.input_tokens == 3600 and usage.output_tokens == 900
    assert usage.cost_usd > 0 and usage.model and usage.session_id
    # In a worktree the agent works with edits accepted and an allow-list, never bypassed.
    first = fake_api.of("EDIT-1")[0]
    assert first.headers.get("x-api-key") == KEY
    assert outcome.fix_rounds == 0


async def test_a_failed_check_resumes_the_session_with_the_failure_and_the_task_succeeds(
    git_sandbox: GitSandbox, tmp_path: Path, claude_cli: Path, fake_api: FakeAnthropic
) -> None:
    fake_api.script(
        "FIX-1",
        write("{cwd}/notes/hello.txt", "", "First try."),  # empty: `test -s` fails
        say("Done."),
        write("{cwd}/notes/hello.txt", "hello\n", "Fixing it."),
        say("Fixed."),
    )
    harness = _harness(tmp_path, claude_cli)
    outcome = await harness.runner.run(_claude_task(git_sandbox, "FIX-1"))  # type: ignore[arg-type]

    assert isinstance(outcome, TaskSucceeded), outcome
    assert outcome.attempt == 1 and outcome.fix_rounds == 1
    assert git_sandbox.file_at(outcome.branch, "notes/hello.txt") == "hello\n"
    requests = fake_api.of("FIX-1")
    assert len(requests) == 4
    # the resumed session carries the whole conversation, then the failure
    resumed = requests[2]
    assert "First try." in resumed.texts()
    assert "The check `test -s notes/hello.txt` failed" in resumed.texts()
    assert "exited with status 1" in resumed.texts()
    rounds = [e for e in harness.sink.events if getattr(e, "fix_round", None) == 1]
    assert {getattr(e, "step", "") for e in rounds} >= {"fix_round", "agent_started"}
    assert outcome.usage is not None and outcome.usage.turns == 4  # both rounds add up


async def test_a_rejected_key_fails_agent_auth_within_seconds_without_retries(
    git_sandbox: GitSandbox,
    tmp_path: Path,
    claude_cli: Path,
    fake_api: FakeAnthropic,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-revoked")
    fake_api.script("AUTH-1", say("never"))
    harness = _harness(tmp_path, claude_cli, claude_max_retries=10)  # the CLI's own default
    started = time.monotonic()
    outcome = await harness.runner.run(_claude_task(git_sandbox, "AUTH-1"))  # type: ignore[arg-type]

    assert isinstance(outcome, TaskFailed), outcome
    assert outcome.error_code is FailureCode.AGENT_AUTH and not outcome.recoverable
    assert "401" in outcome.message
    assert time.monotonic() - started < 30  # the CLI alone would retry for minutes
    assert len(fake_api.requests) <= 2  # stopped at its first retry


async def test_an_overloaded_api_is_agent_unavailable_and_recoverable(
    git_sandbox: GitSandbox, tmp_path: Path, claude_cli: Path, fake_api: FakeAnthropic
) -> None:
    fake_api.script("BUSY-1", failing(529, "Overloaded", repeat=5))
    harness = _harness(tmp_path, claude_cli)
    outcome = await harness.runner.run(_claude_task(git_sandbox, "BUSY-1"))  # type: ignore[arg-type]

    assert isinstance(outcome, TaskFailed), outcome
    assert outcome.error_code is FailureCode.AGENT_UNAVAILABLE and outcome.recoverable
    assert "529" in outcome.message


async def test_the_turn_limit_is_agent_failed_naming_it(
    git_sandbox: GitSandbox, tmp_path: Path, claude_cli: Path, fake_api: FakeAnthropic
) -> None:
    fake_api.script("TURNS-1", *[bash("test -d .") for _ in range(5)], say("done"))
    harness = _harness(tmp_path, claude_cli)
    task = msgspec.structs.replace(_claude_task(git_sandbox, "TURNS-1"), max_turns=2)  # type: ignore[type-var]
    outcome = await harness.runner.run(task)

    assert isinstance(outcome, TaskFailed), outcome
    assert outcome.error_code is FailureCode.AGENT_FAILED
    assert "turns" in outcome.message and "(2)" in outcome.message


async def test_a_permission_denial_that_left_the_task_undone_is_named(
    git_sandbox: GitSandbox, tmp_path: Path, claude_cli: Path, fake_api: FakeAnthropic
) -> None:
    # The agent tries to create the file through a shell command, which is not allowed.
    fake_api.script(
        "DENY-1",
        bash("python3 scripts/make_greeting.py", "Using a script."),
        say("I could not."),
    )
    harness = _harness(tmp_path, claude_cli)
    task = msgspec.structs.replace(_claude_task(git_sandbox, "DENY-1"), fix_rounds=0)  # type: ignore[type-var]
    outcome = await harness.runner.run(task)

    assert isinstance(outcome, TaskFailed), outcome
    assert outcome.error_code is FailureCode.NO_CHANGES
    assert "permissions refused: Bash python3 scripts/make_greeting.py" in outcome.message
    assert "permission denied: Bash" in harness.sink.text()
    assert "{" not in harness.sink.text()  # every line of the stream was read, none shown raw


async def test_the_agent_never_sees_the_operators_home(
    git_sandbox: GitSandbox,
    tmp_path: Path,
    claude_cli: Path,
    fake_api: FakeAnthropic,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    operator_home = tmp_path / "operator"
    (operator_home / ".claude").mkdir(parents=True)
    (operator_home / ".claude" / "settings.json").write_text('{"model": "operator-model"}')
    monkeypatch.setenv("HOME", str(operator_home))
    fake_api.script("HOME-1", write("{cwd}/notes/hello.txt", "hello\n"), say("done"))
    harness = _harness(tmp_path, claude_cli)
    outcome = await harness.runner.run(_claude_task(git_sandbox, "HOME-1"))  # type: ignore[arg-type]

    assert isinstance(outcome, TaskSucceeded), outcome
    assert fake_api.of("HOME-1")[0].body.get("model") != "operator-model"
    assert sorted(p.name for p in (operator_home / ".claude").iterdir()) == ["settings.json"]
    assert not (operator_home / ".claude.json").exists()
    assert git(git_sandbox.repo, "status", "--porcelain").strip() == ""
