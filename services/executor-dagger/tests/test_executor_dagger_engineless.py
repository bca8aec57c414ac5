"""The engine-less backend through the real TaskRunner, with real git: a fresh clone of the
task's URL (the bare remote), a scrubbed environment, the same steps and failure codes."""

from __future__ import annotations

import json
import os
import shlex
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cc_taskrunner import TaskRunner, default_agents
from commandcenter.gitfixtures import GitSandbox, git
from commandcenter_contracts import (
    LogLine,
    StatusEvent,
    TaskProgress,
    TaskSucceeded,
    new_id,
)
from executor_dagger import Settings
from executor_dagger.engineless import engineless_isolation
from executor_dagger_support import make_task

from tests.support.executors import (
    FAILING_TASKS,
    PYTHON,
    SUCCESS_STEPS,
    failed_with,
    python_agent,
)

pytestmark = pytest.mark.integration

API_KEY = "sk-ant-test-allowed"
GIT_TOKEN = "ghp_test_token_for_git_only"


@dataclass
class Recorder:
    events: list[StatusEvent] = field(default_factory=list)
    lines: list[LogLine] = field(default_factory=list)

    async def status(self, event: StatusEvent) -> None:
        self.events.append(event)

    async def log(self, line: LogLine) -> None:
        self.lines.append(line)

    def steps(self) -> list[str]:
        return [e.step for e in self.events if isinstance(e, TaskProgress)]


def _environ(**extra: str) -> dict[str, str]:
    """The executor's environment: what a pod would have, plus things agents must not see."""
    return {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", "/root"),
        "LANG": "C.UTF-8",
        "ANTHROPIC_API_KEY": API_KEY,
        "CC_TEST_SECRET_LEAK": "x",
        "CC_DATABASE_URL": "postgresql://user:password@db/cc",
        **extra,
    }


def _runner(tmp_path: Path, environ: dict[str, str]) -> tuple[TaskRunner, Recorder, Path]:
    work = tmp_path / "work"
    settings = Settings.from_env({"CC_WORK_ROOT": str(work), "CC_KILL_GRACE_S": "1"})
    sink = Recorder()
    isolation = engineless_isolation(settings, environ)
    return TaskRunner(isolation, default_agents(settings.runner), sink, settings.runner), sink, work


async def test_success_pushes_one_commit_on_the_branch(
    tmp_path: Path, git_sandbox: GitSandbox
) -> None:
    runner, sink, work = _runner(tmp_path, _environ())
    base = git(git_sandbox.remote, "rev-parse", "main").strip()
    task = make_task(git_sandbox, new_id(), verification=["test -s out/1-1.txt"])

    outcome = await runner.run(task)

    assert isinstance(outcome, TaskSucceeded), outcome
    assert outcome.pushed and outcome.branch == task.branch
    assert git_sandbox.commits_between(base, task.branch) == [outcome.commit]
    assert git_sandbox.file_at(task.branch, "out/1-1.txt") == "task 1.1\n"
    # the same steps as the local executor's, and the clone is gone
    assert sink.steps() == SUCCESS_STEPS
    assert list((work / "clones").iterdir()) == []
    # a redelivery of the same attempt finds the pushed work instead of committing again
    again = await runner.run(task)
    assert isinstance(again, TaskSucceeded) and again.commit == outcome.commit
    assert git_sandbox.commits_between(base, task.branch) == [outcome.commit]


@pytest.mark.parametrize("case", FAILING_TASKS)
async def test_failures_have_the_same_codes_as_in_local_mode(
    tmp_path: Path, git_sandbox: GitSandbox, case: str
) -> None:
    overrides, code = FAILING_TASKS[case]
    environ = _environ(PATH=str(tmp_path / "empty-bin") + os.pathsep + os.environ["PATH"])
    if case == "claude_missing":  # no `claude` anywhere on the commands' PATH
        environ["PATH"] = os.pathsep.join(
            p for p in environ["PATH"].split(os.pathsep) if not (Path(p) / "claude").exists()
        )
    runner, _, work = _runner(tmp_path, environ)
    outcome = failed_with(await runner.run(make_task(git_sandbox, new_id(), **overrides)), code)
    assert not outcome.recoverable
    assert git_sandbox.remote_branches() == ["main"]
    assert list((work / "clones").iterdir()) == []


ENV_DUMP = """
import json, os, pathlib, sys
pathlib.Path(sys.argv[1]).write_text(json.dumps(dict(os.environ)))
pathlib.Path("agent.txt").write_text("changed\\n")
"""


async def test_the_agent_gets_a_scrubbed_environment(
    tmp_path: Path, git_sandbox: GitSandbox
) -> None:
    dump, check_dump = tmp_path / "agent-env.json", tmp_path / "check-env.json"
    runner, _, work = _runner(tmp_path, _environ(CC_GIT_TOKEN=GIT_TOKEN))
    dump_env = "import json, os, sys; open(sys.argv[1], 'w').write(json.dumps(dict(os.environ)))"
    check = shlex.join([PYTHON, "-c", dump_env, str(check_dump)])
    task = make_task(
        git_sandbox, new_id(), agent=python_agent(ENV_DUMP, str(dump)), verification=[check]
    )

    outcome = await runner.run(task)

    assert isinstance(outcome, TaskSucceeded), outcome
    env = json.loads(dump.read_text())
    assert "CC_TEST_SECRET_LEAK" not in env and "CC_DATABASE_URL" not in env
    assert env["ANTHROPIC_API_KEY"] == API_KEY  # the allowed credential
    assert "CC_GIT_TOKEN" not in env and "GIT_ASKPASS" not in env  # git's, not the agent's
    assert env["CC_TASK_ID"] == task.task_id and env["CC_RUN_ID"] == task.run_id
    assert Path(env["HOME"]).is_relative_to(work) and env["HOME"] != os.environ.get("HOME")
    allowed = {"PATH", "LANG", "HOME", "ANTHROPIC_API_KEY", "PWD"}
    unexpected = {k for k in env if k not in allowed and not k.startswith(("CC_", "GIT_"))}
    assert unexpected <= {"LC_CTYPE"}, unexpected  # (python may add LC_CTYPE itself)
    # verification commands get no credential at all
    check_env = json.loads(check_dump.read_text())
    assert "ANTHROPIC_API_KEY" not in check_env and "CC_GIT_TOKEN" not in check_env
    assert "CC_TEST_SECRET_LEAK" not in check_env


GIT_WRAPPER = """#!{python}
import json, os, sys
with open({log!r}, "a") as fh:
    args = sys.argv[1:]
    while args[0] == "-c":
        args = args[2:]
    fh.write(json.dumps({{"cmd": args[0], "token": os.environ.get("CC_GIT_TOKEN"),
                         "askpass": os.environ.get("GIT_ASKPASS")}}) + "\\n")
os.execv({git!r}, [{git!r}, *sys.argv[1:]])
"""


async def test_only_git_steps_get_the_git_token(tmp_path: Path, git_sandbox: GitSandbox) -> None:
    real_git = shutil.which("git")
    assert real_git is not None
    log = tmp_path / "git-calls.jsonl"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    wrapper = bin_dir / "git"
    wrapper.write_text(GIT_WRAPPER.format(python=PYTHON, log=str(log), git=real_git))
    wrapper.chmod(0o755)
    environ = _environ(CC_GIT_TOKEN=GIT_TOKEN, PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    runner, _, _ = _runner(tmp_path, environ)
    task = make_task(git_sandbox, new_id(), verification=["git status --short"])

    assert isinstance(await runner.run(task), TaskSucceeded)

    calls = [json.loads(line) for line in log.read_text().splitlines()]
    by_step = {c["cmd"]: c for c in calls}
    for step in ("clone", "ls-remote", "commit", "push"):
        assert by_step[step]["token"] == GIT_TOKEN and by_step[step]["askpass"], step
    assert by_step["status"]["token"] is None  # the verification command's git
    mode, script = _file(by_step["push"]["askpass"])
    assert mode == 0o700 and GIT_TOKEN not in script


def _file(path: str) -> tuple[int, str]:
    return Path(path).stat().st_mode & 0o777, Path(path).read_text()
