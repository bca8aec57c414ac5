"""The Dagger backend's container chain, read from the query dagger-io builds lazily.

No engine is needed: nothing here is evaluated. `build_task_pipeline` is made of the same
builders the live backend chains step by step (`task_container`, `exec_step`, the git argv of
`cc_taskrunner.git_steps`), and `DaggerWorkspace.plan_exec` is the live backend's own step.
"""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest
from cc_taskrunner import GitError, GitIdentity, UnsafePath, build_prompt
from commandcenter_contracts import AgentSpec, TaskDispatched
from dagger import Client, Container, dag
from executor_dagger import Settings
from executor_dagger.container_backend import DaggerIsolation, DaggerWorkspace
from executor_dagger.pipeline import (
    ASKPASS,
    ContainerSecrets,
    build_task_pipeline,
    secret_references,
    task_container,
)

API_KEY = "sk-ant-api03-PLAINTEXT-must-not-leak"
GIT_TOKEN = "ghp_PLAINTEXT_must_not_leak"
ENVIRON = {"ANTHROPIC_API_KEY": API_KEY, "CC_GIT_TOKEN": GIT_TOKEN}
REPO = "https://git.example.org/team/app.git"


def _task(**overrides: Any) -> TaskDispatched:
    fields: dict[str, Any] = {
        "run_id": "0123abcd-run",
        "task_id": "0f1e2d3c-task",
        "plan_task_id": "2.1",
        "batch_index": 0,
        "title": "Add the parser",
        "body": "Write `parser.py`.\n",
        "branch": "cc/0123abcd/2-1-add-the-parser",
        "repo": REPO,
        "base_ref": "main",
        "agent": AgentSpec(name="command", argv=["python3", "/opt/agent.py", "--fast"]),
        "verification": ["pytest -q tests/test_parser.py", "ruff check ."],
        "mode": "dagger",
    }
    fields.update(overrides)
    return TaskDispatched(**fields)


def _settings(**env: str) -> Settings:
    return Settings.from_env({"CC_DAGGER_IMAGE": "registry.example.org/cc-agent:3", **env})


def _steps(ctr: Container) -> list[tuple[str, dict[str, Any]]]:
    return [(field.name, dict(field.args)) for field in ctr._ctx.selections]


def _secret_uri(secret: Any) -> list[tuple[str, dict[str, Any]]]:
    return [(field.name, dict(field.args)) for field in secret._ctx.selections]


def _everything(obj: Any) -> str:
    """Every name and argument of a query chain, nested objects (secrets) included."""
    if hasattr(obj, "_ctx"):
        return " ".join(
            f"{field.type_name}.{field.name}({_everything(field.args)})"
            for field in obj._ctx.selections
        )
    if isinstance(obj, dict):
        return " ".join(f"{k}={_everything(v)}" for k, v in obj.items())
    if isinstance(obj, list | tuple):
        return " ".join(_everything(v) for v in obj)
    return repr(obj)


def _execs(ctr: Container) -> list[list[str]]:
    return [args["args"] for name, args in _steps(ctr) if name == "withExec"]


def _pipeline(task: TaskDispatched, settings: Settings | None = None) -> Container:
    settings = settings or _settings()
    secrets = secret_references(dag, settings, ENVIRON)
    return build_task_pipeline(dag, task, settings, secrets, nonce="attempt-nonce")


def test_the_task_runs_in_the_configured_image_with_a_fresh_clone_of_its_url() -> None:
    steps = _steps(_pipeline(_task()))
    assert steps[0] == ("container", {})
    assert steps[1] == ("from", {"address": "registry.example.org/cc-agent:3"})
    env = {a["name"]: a["value"] for name, a in steps if name == "withEnvVariable"}
    assert env["GIT_AUTHOR_NAME"] == "CommandCenter" and env["GIT_TERMINAL_PROMPT"] == "0"
    assert env["CC_TASK_NONCE"] == "attempt-nonce"  # a retried attempt never reuses a cached clone
    assert ("withWorkdir", {"path": "/work"}) in steps
    execs = _execs(_pipeline(_task()))
    assert execs[0] == ["git", "clone", "--quiet", "--", REPO, "."]
    assert execs[1] == [
        "git",
        "checkout",
        "--quiet",
        "-B",
        "cc/0123abcd/2-1-add-the-parser",
        "main",
    ]


def test_the_agent_runs_with_the_prompt_on_stdin_and_its_files_outside_the_checkout() -> None:
    task = _task()
    steps = _steps(_pipeline(task))
    agent = next(a for name, a in steps if name == "withExec" and a["args"][0] == "python3")
    assert agent["args"] == ["python3", "/opt/agent.py", "--fast"]
    assert agent["stdin"] == build_prompt(task)
    assert agent["expect"] == "ANY"  # a failing agent is an exit code, not a query error
    files = {a["path"]: a["contents"] for name, a in steps if name == "withNewFile"}
    assert files["/cc/prompt.md"] == build_prompt(task)
    assert '"task_id":"0f1e2d3c-task"' in files["/cc/task.json"]
    env = {a["name"]: a["value"] for name, a in steps if name == "withEnvVariable"}
    assert env["CC_PROMPT_FILE"] == "/cc/prompt.md" and env["CC_WORKDIR"] == "/work"
    assert env["CC_TASK_ID"] == task.task_id


def test_commit_verification_and_push_follow_the_agent_in_order() -> None:
    execs = _execs(_pipeline(_task()))
    assert execs[3] == ["git", "add", "-A"]
    assert execs[4][:4] == ["git", "commit", "--quiet", "-m"]
    assert execs[4][4].startswith("Add the parser\n\nCommandCenter-Run: 0123abcd-run")
    assert execs[5] == ["pytest", "-q", "tests/test_parser.py"]
    assert execs[6] == ["ruff", "check", "."]
    assert execs[7] == [
        "git",
        "push",
        "--quiet",
        "--force-with-lease=refs/heads/cc/0123abcd/2-1-add-the-parser:",
        "origin",
        "HEAD:refs/heads/cc/0123abcd/2-1-add-the-parser",
    ]
    assert len(execs) == 8


def test_secrets_are_references_attached_only_around_the_steps_that_need_them() -> None:
    steps = _steps(_pipeline(_task()))
    names = [name for name, _ in steps]
    secret_steps = [
        (i, a["name"], _secret_uri(a["secret"]))
        for i, (name, a) in enumerate(steps)
        if name == "withSecretVariable"
    ]
    assert [(name, uri) for _, name, uri in secret_steps] == [
        ("CC_GIT_TOKEN", [("secret", {"uri": "env://CC_GIT_TOKEN"})]),
        ("ANTHROPIC_API_KEY", [("secret", {"uri": "env://ANTHROPIC_API_KEY"})]),
        ("CC_GIT_TOKEN", [("secret", {"uri": "env://CC_GIT_TOKEN"})]),
    ]
    # each one wraps exactly one exec (the clone, the agent, the push) and is removed after it
    for index, name, _ in secret_steps:
        removed = steps.index(("withoutSecretVariable", {"name": name}), index)
        assert names[index:removed].count("withExec") == 1
    wrapped = [steps[i + 1][1]["args"][:2] for i, name, _ in secret_steps if name == "CC_GIT_TOKEN"]
    assert wrapped == [["git", "clone"], ["git", "push"]]
    # the values never enter the query; no credential is a plain environment variable
    everything = _everything(_pipeline(_task()))
    assert API_KEY not in everything and GIT_TOKEN not in everything
    plain = [a["name"] for name, a in steps if name == "withEnvVariable"]
    assert "ANTHROPIC_API_KEY" not in plain and "CC_GIT_TOKEN" not in plain


def test_the_askpass_helper_reads_the_token_only_from_its_environment() -> None:
    steps = _steps(_pipeline(_task()))
    files = {a["path"]: a["contents"] for name, a in steps if name == "withNewFile"}
    script = files[str(ASKPASS)]
    assert '"$CC_GIT_TOKEN"' in script and GIT_TOKEN not in script
    env = {a["name"]: a["value"] for name, a in steps if name == "withEnvVariable"}
    assert env["GIT_ASKPASS"] == str(ASKPASS)


def test_only_credentials_present_in_the_environment_are_referenced() -> None:
    secrets = secret_references(dag, _settings(), {"ANTHROPIC_API_KEY": API_KEY})
    assert list(secrets.git) == [] and list(secrets.agent) == ["ANTHROPIC_API_KEY"]
    execs = _steps(build_task_pipeline(dag, _task(), _settings(), secrets, nonce="n"))
    assert [a["name"] for n, a in execs if n == "withSecretVariable"] == ["ANTHROPIC_API_KEY"]


def test_claude_runs_in_print_mode_and_plan_follower_writes_files_into_the_checkout() -> None:
    claude = _task(agent=AgentSpec(name="claude", model="opus"), verification=[])
    settings = _settings(CC_CLAUDE_BIN="claude", CC_CLAUDE_ARGS="--max-turns 30")
    execs = _execs(_pipeline(claude, settings))
    assert execs[2] == [
        "claude",
        "-p",
        "--output-format",
        "text",
        "--permission-mode",
        "acceptEdits",
        "--model",
        "opus",
        "--max-turns",
        "30",
    ]
    body = "Create `src/app/parser.py`:\n```\nprint('hi')\n```\n"
    follower = _task(agent=AgentSpec(name="plan-follower"), body=body, verification=[])
    steps = _steps(_pipeline(follower))
    assert ("withNewFile", {"path": "/work/src/app/parser.py", "contents": "print('hi')\n"}) in [
        (n, {k: v for k, v in a.items() if k in {"path", "contents"}}) for n, a in steps
    ]
    after_checkout = [argv[:2] for argv in _execs(_pipeline(follower))][2:]
    assert after_checkout == [["git", "add"], ["git", "commit"], ["git", "push"]]


def _workspace(environ: dict[str, str]) -> DaggerWorkspace:
    settings = _settings()
    ctr = task_container(
        dag,
        image=settings.image,
        identity=GitIdentity("A", "a@b"),
        git_username="x-access-token",
        nonce="n",
    )
    return DaggerWorkspace(
        ctr,
        branch="cc/x/y",
        remote="origin",
        secrets=secret_references(dag, settings, environ),
    )


@pytest.mark.parametrize(
    ("kind", "expected"),
    [("agent", ["ANTHROPIC_API_KEY"]), ("git", ["CC_GIT_TOKEN"]), ("check", [])],
)
def test_each_kind_of_live_step_gets_only_its_own_secrets(kind: str, expected: list[str]) -> None:
    workspace = _workspace(ENVIRON)
    ctr = workspace.plan_exec(["tool", "--flag"], kind=kind, stdin="input")  # type: ignore[arg-type]
    steps = _steps(ctr)
    assert [a["name"] for n, a in steps if n == "withSecretVariable"] == expected
    assert steps[-1 - len(expected)] == (
        "withExec",
        {"args": ["tool", "--flag"], "stdin": "input", "expect": "ANY"},
    )
    assert API_KEY not in _everything(ctr) and GIT_TOKEN not in _everything(ctr)


async def test_live_file_writes_stay_inside_the_checkout() -> None:
    workspace = _workspace({})
    await workspace.write_file("pkg/mod.py", "x = 1\n")
    assert _steps(workspace.container)[-1] == (
        "withNewFile",
        {"path": "/work/pkg/mod.py", "contents": "x = 1\n"},
    )
    for bad in ("../escape.txt", "/etc/passwd", ".git/config"):
        with pytest.raises(UnsafePath):
            await workspace.write_file(bad, "x")
    path = await workspace.write_scratch("prompt.md", "hello")
    assert str(path) == "/cc/prompt.md"


async def test_the_isolation_refuses_a_repository_that_is_not_a_url() -> None:
    isolation = DaggerIsolation(Client(), _settings(), {})
    with pytest.raises(GitError, match="by URL"):
        await isolation.prepare(_task(repo="/home/me/project"))


def test_the_service_does_not_import_the_dagger_sdk() -> None:
    code = "import sys, executor_dagger.__main__; print('dagger' in sys.modules)"
    out = subprocess.run(  # noqa: S603 - fixed argv
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False"


def test_empty_secrets_attach_nothing() -> None:
    ctr = build_task_pipeline(dag, _task(), _settings(), ContainerSecrets(), nonce="n")
    assert "withSecretVariable" not in [name for name, _ in _steps(ctr)]
