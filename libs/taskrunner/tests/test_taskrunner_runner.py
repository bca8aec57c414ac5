"""TaskRunner against real git repositories with a bare remote (`git_sandbox`)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import msgspec
import pytest
from cc_taskrunner import (
    AgentContext,
    AgentResult,
    FreshCloneIsolation,
    GitIdentity,
    outcome_event_id,
    parse_trailers,
)
from cc_taskrunner.process import process_alive
from commandcenter.gitfixtures import GitSandbox, git
from commandcenter_contracts import (
    AgentSpec,
    FailureCode,
    TaskFailed,
    TaskStarted,
    TaskSucceeded,
    encode,
)
from taskrunner_support import (
    PROCESS_TREE,
    Harness,
    counting_harness,
    create_body,
    make_harness,
    make_task,
    sandbox_without_remote,
)

from tests.support.executors import (
    FENCE,
    SUCCESS_STEPS,
    exists,
    failed_with,
    python_agent,
    task_for,
)
from tests.support.polling import eventually

pytestmark = pytest.mark.integration

COMMANDCENTER = GitIdentity("CommandCenter", "commandcenter@localhost")

# Records the folder it runs in (CC_WORKDIR) in argv[1] and changes a file.
WORKDIR_RECORDER = """
import os, pathlib, sys
pathlib.Path(sys.argv[1]).write_text(os.environ["CC_WORKDIR"])
pathlib.Path("alpha.txt").write_text("alpha\\n")
"""


def _user_state(sandbox: GitSandbox) -> tuple[str, str, str]:
    return (
        git(sandbox.repo, "rev-parse", "--abbrev-ref", "HEAD").strip(),
        git(sandbox.repo, "rev-parse", "HEAD").strip(),
        git(sandbox.repo, "status", "--porcelain", "--untracked-files=all"),
    )


# --- the success path --------------------------------------------------------------------------
async def test_success_pushes_one_commit_with_the_file_and_leaves_the_user_alone(
    harness: Harness, git_sandbox: GitSandbox
) -> None:
    before = _user_state(git_sandbox)
    base = before[1]
    task = make_task(
        git_sandbox,
        commit_message="feat: add alpha",
        verification=["test -s src/alpha.txt"],
    )

    outcome = await harness.runner.run(task)

    assert isinstance(outcome, TaskSucceeded), outcome
    assert outcome.pushed and outcome.branch == task.branch
    assert outcome.event_id == outcome_event_id(task)
    assert task.branch in git_sandbox.remote_branches()
    assert git_sandbox.file_at(task.branch, "src/alpha.txt") == "alpha\n"
    assert git_sandbox.commits_between(base, task.branch) == [outcome.commit]
    message = git(git_sandbox.remote, "log", "-1", "--format=%B", task.branch)
    assert message.startswith("feat: add alpha\n")
    assert parse_trailers(message) == {
        "CommandCenter-Run": task.run_id,
        "CommandCenter-Task": task.task_id,
        "CommandCenter-Attempt": "1",
    }
    author = git(git_sandbox.remote, "log", "-1", "--format=%an <%ae>|%cn", task.branch)
    assert author.strip() == "CommandCenter <commandcenter@localhost>|CommandCenter"
    # events: started first, the steps in order, and the outcome is NOT published by the runner
    assert isinstance(harness.sink.events[0], TaskStarted)
    assert harness.sink.events[0].executor == "test-executor"
    assert harness.sink.steps() == SUCCESS_STEPS
    assert not any(isinstance(e, TaskSucceeded | TaskFailed) for e in harness.sink.events)
    assert "plan-follower: wrote src/alpha.txt (6 bytes)" in harness.sink.text()
    # the user's checkout: same branch, same commit, clean; the worktree is gone, and so is
    # the local branch (pushed: its work is on the remote)
    assert _user_state(git_sandbox) == before
    assert git(git_sandbox.repo, "worktree", "list", "--porcelain").count("worktree ") == 1
    assert list(harness.worktree_root.rglob("alpha.txt")) == []
    assert git(git_sandbox.repo, "branch", "--list", task.branch) == ""


async def test_the_user_working_tree_changes_are_not_taken_or_touched(
    harness: Harness, git_sandbox: GitSandbox
) -> None:
    (git_sandbox.repo / "README.md").write_text("user edit in progress\n")
    (git_sandbox.repo / "scratch.txt").write_text("untracked\n")
    before = _user_state(git_sandbox)
    task = make_task(git_sandbox)

    outcome = await harness.runner.run(task)

    assert isinstance(outcome, TaskSucceeded)
    assert _user_state(git_sandbox) == before
    assert (git_sandbox.repo / "README.md").read_text() == "user edit in progress\n"
    assert git_sandbox.file_at(task.branch, "README.md") == "# sample\n"
    tree = git(git_sandbox.remote, "ls-tree", "-r", "--name-only", task.branch).split()
    assert sorted(tree) == ["README.md", "src/alpha.txt"]


async def test_a_repository_without_a_remote_succeeds_without_push(
    harness: Harness, tmp_path: Path
) -> None:
    sandbox = sandbox_without_remote(tmp_path / "solo")
    task = make_task(sandbox)
    outcome = await harness.runner.run(task)
    assert isinstance(outcome, TaskSucceeded) and not outcome.pushed
    assert "pushed" not in harness.sink.steps()
    assert git(sandbox.repo, "show", f"{task.branch}:src/alpha.txt") == "alpha\n"


async def test_an_explicit_base_ref_is_used(harness: Harness, git_sandbox: GitSandbox) -> None:
    first = git(git_sandbox.repo, "rev-parse", "HEAD").strip()
    (git_sandbox.repo / "later.txt").write_text("later\n")
    git(git_sandbox.repo, "add", "later.txt")
    git(git_sandbox.repo, "commit", "-q", "-m", "later")
    task = make_task(git_sandbox, base_ref=first)
    outcome = await harness.runner.run(task)
    assert isinstance(outcome, TaskSucceeded)
    assert git_sandbox.commits_between(first, task.branch) == [outcome.commit]
    assert "later.txt" not in git(git_sandbox.remote, "ls-tree", "--name-only", task.branch)


# --- failure codes -----------------------------------------------------------------------------
async def test_an_agent_that_changes_nothing_is_no_changes(
    harness: Harness, git_sandbox: GitSandbox
) -> None:
    task = make_task(git_sandbox, body="**Implementation:**\nThink about it.\n")
    outcome = failed_with(await harness.runner.run(task), FailureCode.NO_CHANGES)
    assert not outcome.recoverable
    assert task.branch not in git_sandbox.remote_branches()


@pytest.mark.parametrize(
    "command", ["false", "python3 -c 'import sys; sys.exit(1)'", "test -s missing.txt"]
)
async def test_a_failing_verification_is_verification_failed(
    harness: Harness, git_sandbox: GitSandbox, command: str
) -> None:
    task = make_task(git_sandbox, verification=["test -s src/alpha.txt", command])
    outcome = failed_with(await harness.runner.run(task), FailureCode.VERIFICATION_FAILED)
    assert command in outcome.message and "exited with status 1" in outcome.message
    assert not outcome.recoverable
    assert task.branch not in git_sandbox.remote_branches()


async def test_verification_output_tail_is_in_the_message(
    harness: Harness, git_sandbox: GitSandbox
) -> None:
    check = "python3 -c \"import sys; print('expected 3 got 2'); sys.exit(2)\""
    task = make_task(git_sandbox, verification=[check])
    outcome = failed_with(await harness.runner.run(task), FailureCode.VERIFICATION_FAILED)
    assert "expected 3 got 2" in outcome.message
    assert "expected 3 got 2" in harness.sink.text()


@pytest.mark.parametrize(
    ("agent", "code", "said"),
    [
        pytest.param(
            AgentSpec(name="command", argv=["cc-no-such-agent", "-x"]),
            FailureCode.AGENT_NOT_FOUND,
            ["cc-no-such-agent"],
            id="a_missing_command_binary",
        ),
        pytest.param(
            AgentSpec(name="claude"),
            FailureCode.AGENT_NOT_FOUND,
            ["no-such-claude"],
            id="claude_pointing_nowhere",
        ),
        pytest.param(
            AgentSpec(name="gpt-17"), FailureCode.AGENT_NOT_FOUND, ["gpt-17"], id="an_unknown_name"
        ),
        pytest.param(
            python_agent("import sys; print('model overloaded', file=sys.stderr); sys.exit(4)"),
            FailureCode.AGENT_FAILED,
            ["status 4", "model overloaded"],
            id="a_failing_agent_with_its_stderr",
        ),
    ],
)
async def test_an_agent_that_cannot_do_the_work_fails_with_its_code_saying_why(
    tmp_path: Path, git_sandbox: GitSandbox, agent: AgentSpec, code: FailureCode, said: list[str]
) -> None:
    harness = make_harness(tmp_path, claude_bin=str(tmp_path / "no-such-claude"))
    task = make_task(git_sandbox, agent=agent)
    outcome = failed_with(await harness.runner.run(task), code)
    assert all(text in outcome.message for text in said), outcome.message
    assert not outcome.recoverable


async def test_a_timeout_kills_the_agent_process_tree(
    harness: Harness, git_sandbox: GitSandbox, tmp_path: Path
) -> None:
    pidfile = tmp_path / "pids"
    task = make_task(git_sandbox, agent=python_agent(PROCESS_TREE, str(pidfile)), timeout_s=3)
    outcome = failed_with(await harness.runner.run(task), FailureCode.TIMEOUT)
    assert outcome.recoverable
    pids = [int(p) for p in pidfile.read_text().split()]
    assert len(pids) == 2
    await eventually(
        lambda: not any(process_alive(p) for p in pids), within_s=15, what="the agents gone"
    )
    assert git(git_sandbox.repo, "worktree", "list", "--porcelain").count("worktree ") == 1


async def test_cancel_stops_the_agent(
    harness: Harness, git_sandbox: GitSandbox, tmp_path: Path
) -> None:
    marker = tmp_path / "started"
    script = "import pathlib, sys, time; pathlib.Path(sys.argv[1]).touch(); time.sleep(300)"
    task = make_task(git_sandbox, agent=python_agent(script, str(marker)), timeout_s=300)
    cancel = asyncio.Event()
    running = asyncio.create_task(harness.runner.run(task, cancel))
    await eventually(marker.exists, within_s=30, what="the agent started")
    cancel.set()
    outcome = failed_with(await asyncio.wait_for(running, 30), FailureCode.CANCELLED)
    assert not outcome.recoverable


async def test_an_unexpected_error_is_infra_and_recoverable(
    tmp_path: Path, git_sandbox: GitSandbox
) -> None:
    class Exploding:
        async def run(self, _ctx: AgentContext) -> AgentResult:
            raise RuntimeError("disk on fire")

    harness = make_harness(tmp_path, agents={"plan-follower": Exploding()})
    outcome = failed_with(await harness.runner.run(make_task(git_sandbox)), FailureCode.INFRA)
    assert outcome.recoverable and "disk on fire" in outcome.message


async def test_an_unreachable_remote_is_push_failed_and_recoverable(
    harness: Harness, git_sandbox: GitSandbox, tmp_path: Path
) -> None:
    task = make_task(git_sandbox, remote=str(tmp_path / "no-such-remote.git"))
    outcome = failed_with(await harness.runner.run(task), FailureCode.PUSH_FAILED)
    assert outcome.recoverable


async def test_a_rejected_push_is_push_failed(harness: Harness, git_sandbox: GitSandbox) -> None:
    hook = git_sandbox.remote / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'no pushes today' >&2\nexit 1\n")
    hook.chmod(0o755)
    outcome = failed_with(await harness.runner.run(make_task(git_sandbox)), FailureCode.PUSH_FAILED)
    assert "no pushes today" in outcome.message and outcome.recoverable


async def test_a_missing_repository_is_a_git_error(harness: Harness, tmp_path: Path) -> None:
    task = task_for(str(tmp_path / "nowhere"), "r" * 8)
    failed_with(await harness.runner.run(task), FailureCode.GIT_ERROR)


async def test_an_unknown_base_ref_is_a_git_error(
    harness: Harness, git_sandbox: GitSandbox
) -> None:
    outcome = failed_with(
        await harness.runner.run(make_task(git_sandbox, base_ref="no-such-branch")),
        FailureCode.GIT_ERROR,
    )
    assert "no-such-branch" in outcome.message


@pytest.mark.parametrize(
    "branch", ["cc/run/has space", "--upload-pack=touch /tmp/x", "cc/run/a..b", "cc/run/x~1"]
)
async def test_odd_branch_names_fail_cleanly_before_git_runs(
    harness: Harness, git_sandbox: GitSandbox, branch: str
) -> None:
    outcome = failed_with(
        await harness.runner.run(make_task(git_sandbox, branch=branch)), FailureCode.GIT_ERROR
    )
    assert "invalid branch name" in outcome.message
    assert git_sandbox.remote_branches() == ["main"]
    assert not harness.worktree_root.exists() or not any(harness.worktree_root.rglob("*"))


async def test_the_branch_checked_out_by_the_user_is_refused(
    harness: Harness, git_sandbox: GitSandbox
) -> None:
    outcome = failed_with(
        await harness.runner.run(make_task(git_sandbox, branch="main")), FailureCode.GIT_ERROR
    )
    assert "checked out in the repository itself" in outcome.message
    assert _user_state(git_sandbox)[0] == "main"


async def test_a_failing_sink_does_not_fail_the_task(
    harness: Harness, git_sandbox: GitSandbox
) -> None:
    harness.sink.fail = True
    outcome = await harness.runner.run(make_task(git_sandbox))
    assert isinstance(outcome, TaskSucceeded)


# --- idempotency and stale state ---------------------------------------------------------------
async def test_a_redelivered_attempt_makes_no_second_commit(
    tmp_path: Path, git_sandbox: GitSandbox
) -> None:
    harness, counting = counting_harness(tmp_path)
    base = git(git_sandbox.repo, "rev-parse", "HEAD").strip()
    task = make_task(git_sandbox)

    first = await harness.runner.run(task)
    again = await harness.runner.run(task)

    assert isinstance(first, TaskSucceeded) and isinstance(again, TaskSucceeded)
    assert again.commit == first.commit and again.pushed
    assert again.event_id == first.event_id  # JetStream drops the second outcome
    assert counting.runs == 1
    assert "already_done" in harness.sink.steps()
    assert git_sandbox.commits_between(base, task.branch) == [first.commit]


async def test_a_redelivery_as_a_later_attempt_takes_the_earlier_attempts_pushed_work(
    tmp_path: Path, git_sandbox: GitSandbox
) -> None:
    harness, counting = counting_harness(tmp_path)
    base = git(git_sandbox.repo, "rev-parse", "HEAD").strip()
    task = make_task(git_sandbox)
    first = await harness.runner.run(task, base_attempt=1)
    # the executor died before its ack: delivery 2 of the same message is attempt 2
    redelivered = msgspec.structs.replace(task, attempt=2)
    again = await harness.runner.run(redelivered, base_attempt=1)

    assert isinstance(first, TaskSucceeded) and isinstance(again, TaskSucceeded)
    assert again.commit == first.commit and again.attempt == 2 and again.pushed
    assert again.event_id == outcome_event_id(redelivered) != first.event_id
    assert counting.runs == 1
    assert [e.attempt for e in harness.sink.events if isinstance(e, TaskStarted)] == [1, 2]
    assert git_sandbox.commits_between(base, task.branch) == [first.commit]


async def test_a_new_attempt_replaces_the_earlier_attempts_branch(
    harness: Harness, git_sandbox: GitSandbox
) -> None:
    base = git(git_sandbox.repo, "rev-parse", "HEAD").strip()
    task = make_task(git_sandbox)
    first = await harness.runner.run(task)
    retry = msgspec.structs.replace(task, attempt=2, body=create_body("src/alpha.txt", "alpha v2"))
    second = await harness.runner.run(retry)

    assert isinstance(first, TaskSucceeded) and isinstance(second, TaskSucceeded)
    assert second.commit != first.commit
    assert git_sandbox.commits_between(base, task.branch) == [second.commit]
    assert git_sandbox.file_at(task.branch, "src/alpha.txt") == "alpha v2\n"
    message = git(git_sandbox.remote, "log", "-1", "--format=%B", task.branch)
    assert parse_trailers(message)["CommandCenter-Attempt"] == "2"


async def test_a_stale_worktree_from_a_crashed_delivery_is_replaced(
    harness: Harness, git_sandbox: GitSandbox
) -> None:
    task = make_task(git_sandbox)
    stale = harness.runner._isolation.workspace_path(task)  # type: ignore[attr-defined]
    stale.parent.mkdir(parents=True)
    git(git_sandbox.repo, "worktree", "add", "-q", "-b", task.branch, str(stale), "HEAD")
    (stale / "half-done.txt").write_text("left by a crash\n")
    git(stale, "add", "half-done.txt")
    git(stale, "commit", "-q", "-m", "half done")

    outcome = await harness.runner.run(task)

    assert isinstance(outcome, TaskSucceeded), outcome
    tree = git(git_sandbox.remote, "ls-tree", "-r", "--name-only", task.branch).split()
    assert "half-done.txt" not in tree and "src/alpha.txt" in tree
    assert git(git_sandbox.repo, "worktree", "list", "--porcelain").count("worktree ") == 1


async def test_every_delivery_gets_a_worktree_of_its_own_and_earlier_ones_are_removed(
    harness: Harness, git_sandbox: GitSandbox, tmp_path: Path
) -> None:
    record = tmp_path / "workdir"
    task = make_task(git_sandbox, agent=python_agent(WORKDIR_RECORDER, str(record)), attempt=2)
    isolation = harness.runner._isolation  # type: ignore[attr-defined]
    run_dir, name = isolation.run_dir(task), isolation.workspace_name(task)
    # what deliveries 1 left: a registered worktree on the branch, a folder git never knew,
    # the folder of the older layout; and another task's worktree, which must stay
    stale = run_dir / f"{name}--1-aaaaaa"
    run_dir.mkdir(parents=True)
    git(git_sandbox.repo, "worktree", "add", "-q", "-b", task.branch, str(stale), "HEAD")
    (run_dir / f"{name}--1-bbbbbb").mkdir()
    (run_dir / name).mkdir()
    other = run_dir / f"{name}-other--1-cccccc"
    git(git_sandbox.repo, "worktree", "add", "-q", "-b", "cc/other/task", str(other), "HEAD")

    outcome = await harness.runner.run(task)

    assert isinstance(outcome, TaskSucceeded), outcome
    used = Path(record.read_text())
    assert used.parent == run_dir and used.name.startswith(f"{name}--2-")
    assert sorted(p.name for p in run_dir.iterdir()) == [other.name]  # its own one removed too
    worktrees = git(git_sandbox.repo, "worktree", "list", "--porcelain")
    assert str(other) in worktrees and str(stale) not in worktrees


async def test_commits_made_by_the_agent_itself_are_counted_and_marked(
    harness: Harness, git_sandbox: GitSandbox
) -> None:
    script = (
        "import pathlib, subprocess\n"
        "for name in ('one', 'two'):\n"
        "    pathlib.Path(name + '.txt').write_text(name + '\\n')\n"
        "    subprocess.run(['git', 'add', name + '.txt'], check=True)\n"
        "    subprocess.run(['git', 'commit', '-q', '-m', 'agent: ' + name], check=True)\n"
    )
    base = git(git_sandbox.repo, "rev-parse", "HEAD").strip()
    task = make_task(git_sandbox, agent=python_agent(script))
    outcome = await harness.runner.run(task)
    assert isinstance(outcome, TaskSucceeded), outcome
    commits = git_sandbox.commits_between(base, task.branch)
    assert len(commits) == 2 and commits[0] == outcome.commit
    message = git(git_sandbox.remote, "log", "-1", "--format=%B", task.branch)
    assert message.startswith("agent: two") and parse_trailers(message)["CommandCenter-Task"]
    assert "2 commit(s)" in next(
        e.message for e in harness.sink.events if getattr(e, "step", "") == "committed"
    )


# --- agents: what they get ---------------------------------------------------------------------
async def test_the_command_agent_gets_prompt_task_and_ids_and_nothing_leaks_into_git(
    harness: Harness, git_sandbox: GitSandbox, tmp_path: Path
) -> None:
    record = tmp_path / "record.json"
    script = (
        "import json, os, pathlib, sys\n"
        "env = {k: os.environ[k] for k in os.environ if k.startswith('CC_')}\n"
        "doc = {'env': env, 'stdin': sys.stdin.read(), 'cwd': os.getcwd(),\n"
        "       'prompt': pathlib.Path(env['CC_PROMPT_FILE']).read_text(),\n"
        "       'task': json.loads(pathlib.Path(env['CC_TASK_FILE']).read_text())}\n"
        "pathlib.Path(sys.argv[1]).write_text(json.dumps(doc))\n"
        "pathlib.Path('out.txt').write_text('done\\n')\n"
        "print('agent says hi')\n"
    )
    task = make_task(
        git_sandbox, agent=python_agent(script, str(record)), verification_notes=["Looks right"]
    )
    outcome = await harness.runner.run(task)
    assert isinstance(outcome, TaskSucceeded), outcome
    doc = json.loads(record.read_text())
    assert doc["stdin"] == doc["prompt"]
    assert task.body.strip() in doc["prompt"] and "Looks right" in doc["prompt"]
    assert doc["env"]["CC_TASK_ID"] == task.task_id and doc["env"]["CC_RUN_ID"] == task.run_id
    assert Path(doc["env"]["CC_WORKDIR"]) == Path(doc["cwd"])
    assert doc["task"] == json.loads(encode(task))
    assert "agent says hi" in harness.sink.text()
    tree = git(git_sandbox.remote, "ls-tree", "-r", "--name-only", task.branch).split()
    assert sorted(tree) == ["README.md", "out.txt"]
    assert not exists(Path(doc["env"]["CC_PROMPT_FILE"]))


async def test_shell_metacharacters_in_task_text_never_execute(
    harness: Harness, git_sandbox: GitSandbox, tmp_path: Path
) -> None:
    pwned = tmp_path / "pwned"
    evil = f"$(touch {pwned}) `touch {pwned}` ; touch {pwned} && rm -rf {tmp_path} | cat"
    record = tmp_path / "prompt-seen.txt"
    script = (
        "import pathlib, sys\n"
        "pathlib.Path(sys.argv[1]).write_text(sys.stdin.read())\n"
        "pathlib.Path('evil.txt').write_text(sys.argv[2])\n"
    )
    task = make_task(
        git_sandbox,
        title=f"Title {evil}",
        body=f"Body {evil}\n",
        commit_message=f"feat: {evil}",
        verification=[f"echo {evil}", f"test -s evil.txt ; touch {pwned}"],
        agent=python_agent(script, str(record), evil),
    )
    outcome = await harness.runner.run(task)

    # `;`, `&&` and `|` are plain arguments of `test`, which then fails: the check is refused
    failed_with(outcome, FailureCode.VERIFICATION_FAILED)
    assert not pwned.exists()
    assert evil in record.read_text()
    assert evil in harness.sink.text()  # `echo` printed the text literally
    assert exists(tmp_path)

    follower = make_task(git_sandbox, body=create_body("evil.sh", evil), title=evil)
    assert isinstance(await harness.runner.run(follower), TaskSucceeded)
    assert git_sandbox.file_at(follower.branch, "evil.sh") == evil + "\n"
    assert not pwned.exists()


async def test_plan_follower_refusing_a_path_is_agent_failed(
    harness: Harness, git_sandbox: GitSandbox
) -> None:
    body = f"Create `/etc/cc-test.txt`:\n{FENCE}\nx\n{FENCE}\n"
    outcome = failed_with(
        await harness.runner.run(make_task(git_sandbox, body=body)), FailureCode.AGENT_FAILED
    )
    assert "absolute paths are not allowed" in outcome.message


# --- the engine-less isolation -----------------------------------------------------------------
@pytest.mark.parametrize("by_url", [False, True])
async def test_fresh_clone_isolation_runs_the_same_flow(
    tmp_path: Path, git_sandbox: GitSandbox, by_url: bool
) -> None:
    clones = tmp_path / "clones"
    runner = make_harness(tmp_path).runner_on(FreshCloneIsolation(clones, COMMANDCENTER))
    before = _user_state(git_sandbox)
    repo = f"file://{git_sandbox.remote}" if by_url else str(git_sandbox.repo)
    task = make_task(git_sandbox, repo=repo, verification=["test -s src/alpha.txt"])

    outcome = await runner.run(task)

    assert isinstance(outcome, TaskSucceeded), outcome
    assert outcome.pushed
    base = git(git_sandbox.repo, "rev-parse", "HEAD").strip()
    assert git_sandbox.commits_between(base, task.branch) == [outcome.commit]
    assert list(clones.iterdir()) == []
    assert _user_state(git_sandbox) == before
    again = await runner.run(task)
    assert isinstance(again, TaskSucceeded) and again.commit == outcome.commit


async def test_fresh_clones_are_per_delivery_and_earlier_deliveries_folders_go(
    tmp_path: Path, git_sandbox: GitSandbox
) -> None:
    record = tmp_path / "workdir"
    clones = tmp_path / "clones"
    runner = make_harness(tmp_path).runner_on(FreshCloneIsolation(clones, COMMANDCENTER))
    task = make_task(git_sandbox, agent=python_agent(WORKDIR_RECORDER, str(record)), attempt=2)
    prefix = f"{task.run_id[:8]}-{task.branch.rsplit('/', 1)[1]}"
    stale = clones / f"{prefix}--1-x1y2z3" / "repo"
    stale.mkdir(parents=True)  # a crashed delivery's clone
    other = clones / f"{prefix}-other--1-a1b2c3"  # another task's: it stays
    other.mkdir()

    outcome = await runner.run(task)

    assert isinstance(outcome, TaskSucceeded), outcome
    used = Path(record.read_text())
    assert used.name == "repo" and used.parent.name.startswith(f"{prefix}--2-")
    assert sorted(p.name for p in clones.iterdir()) == [other.name]


async def test_fresh_clone_refuses_dangerous_transports(tmp_path: Path) -> None:
    isolation = FreshCloneIsolation(tmp_path / "c", GitIdentity("a", "a@b"))
    runner = make_harness(tmp_path).runner_on(isolation)
    pwned = tmp_path / "pwned"
    task = task_for(f"ext::sh -c touch% {pwned}", "r" * 8)
    failed_with(await runner.run(task), FailureCode.GIT_ERROR)
    assert not pwned.exists()
