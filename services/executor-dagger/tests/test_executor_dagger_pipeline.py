"""The Dagger backend's container chain, read from the query dagger-io builds lazily.

No engine is needed: the task runner's real steps (`cc_taskrunner.steps`, the flow of every
executor) run through `DaggerIsolation` / `DaggerWorkspace`, whose evaluation is a scripted
engine answering like a repository and its remote would. What each step chained onto the
container is read back from `workspace.container` — the query a live engine would run.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass, field
from typing import Any

import pytest
from cc_taskrunner import GitError, GitIdentity, TaskRunner, UnsafePath, build_prompt
from cc_taskrunner.agents import default_agents
from cc_taskrunner.integration import forget_depths
from commandcenter_contracts import AgentSpec, TaskDispatched, TaskSucceeded
from dagger import Client, Container, dag
from executor_dagger import Settings
from executor_dagger.container_backend import DaggerIsolation, DaggerWorkspace
from executor_dagger.pipeline import (
    ASKPASS,
    ContainerSecrets,
    secret_references,
    task_container,
)

API_KEY = "sk-ant-api03-PLAINTEXT-must-not-leak"
GIT_TOKEN = "ghp_PLAINTEXT_must_not_leak"
ENVIRON = {"ANTHROPIC_API_KEY": API_KEY, "CC_GIT_TOKEN": GIT_TOKEN}
REPO = "https://git.example.org/team/app.git"
BRANCH = "cc/0123abcd/2-1-add-the-parser"
INTEGRATION = "cc/0123abcd/integration"
BASE, TASK_TIP, COMBINED = "b" * 40, "c" * 40, "d" * 40
CLAUDE_RESULT = (
    '{"type":"result","subtype":"success","is_error":false,"num_turns":1,'
    '"total_cost_usd":0.01,"session_id":"s-1","result":"done"}\n'
)


@pytest.fixture(autouse=True)
def _no_remembered_depths() -> None:
    """The fake git answers with made-up commit ids, the same in every test: a depth one test
    remembered must not answer for another."""
    forget_depths()


def _task(**overrides: Any) -> TaskDispatched:
    fields: dict[str, Any] = {
        "run_id": "0123abcd-run",
        "task_id": "0f1e2d3c-task",
        "plan_task_id": "2.1",
        "batch_index": 0,
        "title": "Add the parser",
        "body": "Write `parser.py`.\n",
        "branch": BRANCH,
        "repo": REPO,
        "base_ref": "main",
        "agent": AgentSpec(name="command", argv=["python3", "/opt/agent.py", "--fast"]),
        "verification": ["pytest -q tests/test_parser.py", "ruff check ."],
        "mode": "dagger",
        "integration_branch": INTEGRATION,
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


@dataclass
class ScriptedEngine:
    """Evaluates a container's last step as a repository with a remote would answer it: just
    enough git (refs on the remote, HEAD, FETCH_HEAD) for the task runner's steps."""

    remote_refs: dict[str, str] = field(default_factory=dict)
    head: str = BASE
    fetched: str = ""

    async def __call__(self, ctr: Container, _program: str) -> tuple[int, str, str]:
        last = [args for name, args in _steps(ctr) if name == "withExec"][-1]
        if last["args"][:2] == ["git", "cat-file"]:
            return self.cat_file(last.get("stdin") or "")
        return self.answer(last["args"])

    def cat_file(self, query: str) -> tuple[int, str, str]:
        """`--batch-check` of `<ref>^{commit}` lines: the base branch, the clone's view of the
        remote's branches (`refs/remotes/origin/<name>` is the remote's `refs/heads/<name>`)."""
        out = []
        for line in query.splitlines():
            ref = line.removesuffix("^{commit}")
            remote = ref.replace("refs/remotes/origin/", "refs/heads/", 1)
            sha = BASE if ref in ("main", "origin/main") else self.remote_refs.get(remote)
            out.append(sha or f"{line} missing")
        return 0, "".join(f"{line}\n" for line in out), ""

    def answer(self, argv: list[str]) -> tuple[int, str, str]:
        if argv[0] == "claude":  # the CLI's last stream-json line: how it ended, what it cost
            return 0, CLAUDE_RESULT, ""
        if argv[0] != "git":
            return 0, "", ""  # the agent, the checks
        args = argv[1:]
        while args[0] == "-c":  # `git -c name=value <verb> …`
            args = args[2:]
        verb, args = args[0], args[1:]
        if verb == "ls-remote":
            ref = args[-1]
            sha = self.remote_refs.get(ref)
            return 0, f"{sha}\t{ref}\n" if sha else "", ""
        if verb == "fetch":
            sha = self.remote_refs.get(args[-1])
            if sha is None:
                return 128, "", f"fatal: couldn't find remote ref {args[-1]}"
            self.fetched = sha
            return 0, "", ""
        if verb == "push":
            return self.push(args)
        if verb == "rev-parse":
            what = args[-1]
            if what == "FETCH_HEAD":
                return 0, self.fetched + "\n", ""
            if what.endswith("^{tree}"):
                return 0, "1" * 40 + "\n", ""  # the task's tree; the combined one differs
            return 0, (BASE if what.startswith("main") else self.head) + "\n", ""
        if verb == "commit":  # its summary line names the new commit
            self.head = TASK_TIP
            return 0, f"[{BRANCH} {TASK_TIP}] the task's commit\n", ""
        answers = {
            "diff": "parser.py\n",
            "rev-list": "1\n",
            "merge-tree": "2" * 40 + "\n",
            "commit-tree": COMBINED + "\n",
        }
        return 0, answers.get(verb, ""), ""

    def push(self, args: list[str]) -> tuple[int, str, str]:
        """Every refspec: `<new>:<ref>`, or `:<ref>` to delete the ref."""
        for spec in (arg for arg in args if ":" in arg and not arg.startswith("-")):
            new, _, ref = spec.partition(":")
            if new:
                self.remote_refs[ref] = self.head if new == "HEAD" else new
            else:
                self.remote_refs.pop(ref, None)
        return 0, "", ""


@dataclass
class Recorded:
    outcome: object
    container: Container
    engine: ScriptedEngine


class _Sink:
    async def status(self, _event: object) -> None:
        return None

    async def log(self, _line: object) -> None:
        return None


async def _run(
    task: TaskDispatched,
    settings: Settings | None = None,
    environ: dict[str, str] | None = None,
    engine: ScriptedEngine | None = None,
) -> Recorded:
    """The task runner's whole flow on the Dagger backend, against the scripted engine."""
    settings = settings or _settings()
    engine = engine or ScriptedEngine()
    isolation = DaggerIsolation(
        dag, settings, ENVIRON if environ is None else environ, evaluate=engine
    )
    seen: list[DaggerWorkspace] = []
    prepare = isolation.prepare

    async def keep(task: TaskDispatched) -> DaggerWorkspace:
        seen.append(await prepare(task))
        return seen[-1]

    isolation.prepare = keep  # type: ignore[method-assign]
    runner = TaskRunner(isolation, default_agents(settings.runner), _Sink(), settings.runner)
    outcome = await runner.run(task)
    return Recorded(outcome, seen[0].container, engine)


async def _pipeline(task: TaskDispatched, settings: Settings | None = None) -> Container:
    recorded = await _run(task, settings)
    assert isinstance(recorded.outcome, TaskSucceeded), recorded.outcome
    return recorded.container


async def test_the_task_runs_in_the_configured_image_with_a_fresh_clone_of_its_url() -> None:
    steps = _steps(await _pipeline(_task()))
    assert steps[0] == ("container", {})
    assert steps[1] == ("from", {"address": "registry.example.org/cc-agent:3"})
    env = {a["name"]: a["value"] for name, a in steps if name == "withEnvVariable"}
    assert env["GIT_AUTHOR_NAME"] == "CommandCenter" and env["GIT_TERMINAL_PROMPT"] == "0"
    assert len(env["CC_TASK_NONCE"]) == 36  # a new one per attempt: never a cached clone
    assert ("withWorkdir", {"path": "/work"}) in steps
    execs = _execs(await _pipeline(_task()))
    assert execs[0] == ["git", "clone", "--quiet", "-c", "maintenance.auto=false", "--", REPO, "."]
    assert execs[1] == ["git", "cat-file", "--batch-check=%(objectname)"]  # base, integration
    assert execs[2] == ["git", "checkout", "--quiet", "-B", BRANCH, BASE]


async def test_the_first_task_creates_the_integration_branch_at_the_base() -> None:
    """The clone looked for the branch on its source and found none: the task creates it
    right away (a compare-and-set), without asking the remote again."""
    execs = _execs(await _pipeline(_task()))
    ref = f"refs/heads/{INTEGRATION}"
    assert not any(argv[:2] in (["git", "fetch"], ["git", "ls-remote"]) for argv in execs[:3])
    assert execs[3] == [
        "git",
        "push",
        "--porcelain",
        f"--force-with-lease={ref}:",
        "origin",
        f"{BASE}:{ref}",
    ]


async def test_a_later_task_starts_on_the_integration_tip_its_clone_brought() -> None:
    """The run integrates on the repository the container clones: the clone holds the branch,
    so the task branch starts on its tip without a fetch, and the tip is the lease."""
    tip = "e" * 40
    ref = f"refs/heads/{INTEGRATION}"
    engine = ScriptedEngine(remote_refs={ref: tip})
    recorded = await _run(_task(), engine=engine)
    assert isinstance(recorded.outcome, TaskSucceeded), recorded.outcome
    steps = [args for name, args in _steps(recorded.container) if name == "withExec"]
    asked = ["main", "origin/main", f"refs/remotes/origin/{INTEGRATION}"]
    assert steps[1]["stdin"] == "".join(f"{ref}^{{commit}}\n" for ref in asked)
    assert steps[2]["args"] == ["git", "checkout", "--quiet", "-B", BRANCH, tip]
    execs = [step["args"] for step in steps]
    assert not any(argv[:2] == ["git", "fetch"] for argv in execs)
    integrate = next(
        argv for argv in execs if argv[:2] == ["git", "push"] and f"{COMBINED}:{ref}" in argv
    )
    assert f"--force-with-lease={ref}:{tip}" in integrate
    assert engine.remote_refs[ref] == COMBINED


async def test_the_agent_runs_with_the_prompt_on_stdin_and_its_files_outside_the_checkout() -> None:
    task = _task()
    steps = _steps(await _pipeline(task))
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


async def test_commit_verification_push_and_integration_follow_the_agent_in_order() -> None:
    recorded = await _run(_task())
    execs = _execs(recorded.container)
    agent = execs.index(["python3", "/opt/agent.py", "--fast"])
    after = execs[agent + 1 :]
    assert after[0] == ["git", "add", "-A"]
    assert after[1][:5] == ["git", "-c", "core.abbrev=no", "commit", "-m"]
    assert after[1][5].startswith("Add the parser\n\nCommandCenter-Run: 0123abcd-run")
    assert after[2] == ["pytest", "-q", "tests/test_parser.py"]
    assert after[3] == ["ruff", "check", "."]
    assert after[4] == [
        "git",
        "push",
        "--quiet",
        f"--force-with-lease=refs/heads/{BRANCH}:",
        "origin",
        f"HEAD:refs/heads/{BRANCH}",
    ]
    integrating = [argv[:2] for argv in after[5:]]
    assert integrating == [
        # The tip it started from is tried first: no fetch, and nothing landed since.
        ["git", "merge-tree"],
        ["git", "commit-tree"],
        ["git", "rev-parse"],  # the verified tree
        ["git", "checkout"],  # the combined tree differs: checked again
        ["pytest", "-q"],
        ["ruff", "check"],
        ["git", "push"],
        ["git", "rev-list"],
    ]
    ref = f"refs/heads/{INTEGRATION}"
    task_ref = f"refs/heads/{BRANCH}"
    # Landing the task deletes its branch, in the same atomic push, if it is still its commit.
    assert after[-2] == [
        "git",
        "push",
        "--porcelain",
        f"--force-with-lease={ref}:{BASE}",
        "--atomic",
        f"--force-with-lease={task_ref}:{TASK_TIP}",
        "origin",
        f"{COMBINED}:{ref}",
        f":{task_ref}",
    ]
    assert task_ref not in recorded.engine.remote_refs
    assert isinstance(recorded.outcome, TaskSucceeded)
    assert recorded.outcome.integrated_commit == COMBINED
    assert recorded.engine.remote_refs[ref] == COMBINED


async def test_secrets_are_references_attached_only_around_the_steps_that_need_them() -> None:
    steps = _steps(await _pipeline(_task()))
    names = [name for name, _ in steps]
    secret_steps = [
        (i, a["name"], _secret_uri(a["secret"]))
        for i, (name, a) in enumerate(steps)
        if name == "withSecretVariable"
    ]
    git_uri = [("secret", {"uri": "env://CC_GIT_TOKEN"})]
    assert ("ANTHROPIC_API_KEY", [("secret", {"uri": "env://ANTHROPIC_API_KEY"})]) in [
        (name, uri) for _, name, uri in secret_steps
    ]
    assert all(uri == git_uri for _, name, uri in secret_steps if name == "CC_GIT_TOKEN")
    # each one wraps exactly one exec and is removed after it
    for index, name, _ in secret_steps:
        removed = steps.index(("withoutSecretVariable", {"name": name}), index)
        assert names[index:removed].count("withExec") == 1
    wrapped = {steps[i + 1][1]["args"][0] for i, name, _ in secret_steps if name == "CC_GIT_TOKEN"}
    assert wrapped == {"git"}  # the token reaches git steps only, never the agent or checks
    agent_wrapped = [
        steps[i + 1][1]["args"] for i, n, _ in secret_steps if n == "ANTHROPIC_API_KEY"
    ]
    assert agent_wrapped == [["python3", "/opt/agent.py", "--fast"]]
    # the values never enter the query; no credential is a plain environment variable
    everything = _everything(await _pipeline(_task()))
    assert API_KEY not in everything and GIT_TOKEN not in everything
    plain = [a["name"] for name, a in steps if name == "withEnvVariable"]
    assert "ANTHROPIC_API_KEY" not in plain and "CC_GIT_TOKEN" not in plain


async def test_the_askpass_helper_reads_the_token_only_from_its_environment() -> None:
    steps = _steps(await _pipeline(_task()))
    files = {a["path"]: a["contents"] for name, a in steps if name == "withNewFile"}
    script = files[str(ASKPASS)]
    assert '"$CC_GIT_TOKEN"' in script and GIT_TOKEN not in script
    env = {a["name"]: a["value"] for name, a in steps if name == "withEnvVariable"}
    assert env["GIT_ASKPASS"] == str(ASKPASS)


async def test_only_credentials_present_in_the_environment_are_referenced() -> None:
    secrets = secret_references(dag, _settings(), {"ANTHROPIC_API_KEY": API_KEY})
    assert list(secrets.git) == [] and list(secrets.agent) == ["ANTHROPIC_API_KEY"]
    recorded = await _run(_task(), environ={"ANTHROPIC_API_KEY": API_KEY})
    steps = _steps(recorded.container)
    assert [a["name"] for n, a in steps if n == "withSecretVariable"] == ["ANTHROPIC_API_KEY"]


async def test_claude_runs_sandboxed_in_the_container_with_a_private_home() -> None:
    claude = _task(agent=AgentSpec(name="claude", model="opus"), verification=[], max_turns=30)
    settings = _settings(CC_CLAUDE_BIN="claude", CC_CLAUDE_ARGS="--effort high")
    steps = _steps(await _pipeline(claude, settings))
    agent = next(a for n, a in steps if n == "withExec" and a["args"][0] == "claude")
    assert agent["args"] == [
        "claude",
        "-p",
        "--output-format",
        "stream-json",
        "--verbose",
        "--permission-mode",
        "bypassPermissions",  # a container is a sandbox of its own
        "--model",
        "opus",
        "--max-turns",
        "30",
        "--effort",
        "high",
    ]
    env = {a["name"]: a["value"] for n, a in steps if n == "withEnvVariable"}
    assert env["HOME"] == "/cc/home" and env["CLAUDE_CONFIG_DIR"] == "/cc/home/.claude"
    assert env["IS_SANDBOX"] == "1" and env["CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC"] == "1"
    assert env["DISABLE_AUTOUPDATER"] == "1" and env["CLAUDE_CODE_MAX_RETRIES"] == "2"


async def test_plan_follower_writes_files_into_the_checkout() -> None:
    body = "Create `src/app/parser.py`:\n```\nprint('hi')\n```\n"
    follower = _task(agent=AgentSpec(name="plan-follower"), body=body, verification=[])
    steps = _steps(await _pipeline(follower))
    assert ("withNewFile", {"path": "/work/src/app/parser.py", "contents": "print('hi')\n"}) in [
        (n, {k: v for k, v in a.items() if k in {"path", "contents"}}) for n, a in steps
    ]
    execs = [argv[:2] for argv in _execs(await _pipeline(follower))]
    add = execs.index(["git", "add"])
    assert execs[add - 1] == ["git", "ls-remote"]  # no agent process: files were written


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


async def test_empty_secrets_attach_nothing() -> None:
    recorded = await _run(_task(), environ={})
    assert "withSecretVariable" not in [name for name, _ in _steps(recorded.container)]
    assert ContainerSecrets().for_kind("agent") == {}
