"""Landing a run, through the real planner (its status loop and its lander) on a real NATS,
against real git repositories with a bare remote and a fake GitHub that checks every request
against GitHub's own OpenAPI description.

The executor's part is played by the test: it takes each dispatch, puts the task's commit on the
integration branch of the bare remote (as the executors' merge queue does), and reports the
outcome with the integrated commit.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from cc_forge import ForgeSettings
from commandcenter.gitfixtures import GitSandbox, git, make_git_sandbox
from commandcenter_contracts import (
    FailureCode,
    PhaseStartRequested,
    PullRequestUpdated,
    RunFailed,
    RunLanded,
    TaskSucceeded,
)
from nats.js import JetStreamContext
from planner.app import PlannerService, create_app
from planner.settings import Settings
from planner_support import StatusLog, TestExecutor, make_plan, make_request, start_run

from tests.support.fake_github import FakeGitHub

pytestmark = pytest.mark.integration

TOKEN = "ghp_landingTest0123456789abcdef"


@pytest.fixture
def fake_github() -> Iterator[FakeGitHub]:
    with FakeGitHub(token=TOKEN, repo="octo/widgets") as fake:
        yield fake


@pytest.fixture
async def lander_app(
    nats_server_url: str, tmp_path: Path, fake_github: FakeGitHub
) -> AsyncIterator[PlannerService]:
    settings = Settings(
        nats_url=nats_server_url,
        retry_delay_s=0.2,
        client_name="planner-landing-test",
        work_dir=tmp_path / "planner",
        forge=ForgeSettings(repo="octo/widgets", token=TOKEN, api_url=fake_github.url),
    )
    app = create_app(settings)
    await app.start()
    yield app
    await app.stop()


@pytest.fixture
def nats_server_url(planner_settings: Settings) -> str:
    return planner_settings.nats_url


class Integrator:
    """Puts each task's work on the integration branch of the bare remote, one commit per task
    with the task's trailers: what the executors' merge queue leaves behind."""

    def __init__(self, sandbox: GitSandbox, root: Path) -> None:
        self.sandbox = sandbox
        self.work = root / "integrator"
        root.mkdir(parents=True, exist_ok=True)
        git(root, "clone", "-q", str(sandbox.remote), str(self.work))

    def integrate(self, branch: str, task_id: str, path: str, text: str) -> tuple[str, int]:
        refs = git(self.work, "ls-remote", "origin", f"refs/heads/{branch}")
        git(self.work, "fetch", "-q", "origin")
        start = f"origin/{branch}" if refs.strip() else "origin/main"
        git(self.work, "checkout", "-q", "-B", branch, start)
        (self.work / path).write_text(text)
        git(self.work, "add", "-A")
        git(self.work, "commit", "-q", "-m", f"{path}\n\nCommandCenter-Task: {task_id}")
        git(self.work, "push", "-q", "origin", f"{branch}:refs/heads/{branch}")
        sha = git(self.work, "rev-parse", "HEAD").strip()
        depth = int(git(self.work, "rev-list", "--first-parent", "--count", "HEAD"))
        return sha, depth


async def _play_tasks(
    executor: TestExecutor, integrator: Integrator, count: int, *, before_last: object = None
) -> list[str]:
    landed = []
    for n in range(count):
        task, raw = await executor.take()
        sha, depth = integrator.integrate(
            task.integration_branch, task.task_id, f"t{task.plan_task_id}.txt", task.title
        )
        if n == count - 1 and callable(before_last):
            before_last()  # after the run's last integration, before the landing
        outcome = TaskSucceeded(
            run_id=task.run_id,
            task_id=task.task_id,
            attempt=task.attempt,
            branch=task.branch,
            commit=sha,
            pushed=True,
            integrated_commit=sha,
            integration_branch=task.integration_branch,
            integration_depth=depth,
        )
        await executor.finish(raw, outcome=outcome)
        landed.append(sha)
    return landed


def _request(sandbox: GitSandbox, land: str, *batches: int) -> PhaseStartRequested:
    request = make_request(make_plan(*batches, title="Widgets"), run_id=str(uuid.uuid4()))
    return PhaseStartRequested(
        **{
            **{f: getattr(request, f) for f in request.__struct_fields__},
            "repo": str(sandbox.repo),
            "remote": None,
            "land": land,
        }
    )


@pytest.fixture
def sandbox(tmp_path: Path) -> GitSandbox:
    return make_git_sandbox(tmp_path / "git")


@pytest.mark.usefixtures("lander_app")
async def test_land_merge_fast_forwards_the_base_branch_of_a_bare_remote(
    js: JetStreamContext,
    executor: TestExecutor,
    status_log: StatusLog,
    sandbox: GitSandbox,
    tmp_path: Path,
) -> None:
    run = await start_run(js, _request(sandbox, "merge", 1, 1))
    landed = await _play_tasks(executor, Integrator(sandbox, tmp_path), 2)

    (done,) = await status_log.wait_for(run, "run.landed")
    assert isinstance(done, RunLanded)
    assert (done.land, done.target, done.commit) == ("merge", "main", landed[-1])
    await status_log.wait_for(run, "run.succeeded")
    assert git(sandbox.remote, "rev-parse", "main").strip() == landed[-1]
    types = status_log.types(run)
    assert types.index("run.landed") < types.index("run.succeeded")


@pytest.mark.usefixtures("lander_app")
async def test_land_merge_merges_a_base_that_moved_cleanly_and_refuses_one_that_clashes(
    js: JetStreamContext,
    executor: TestExecutor,
    status_log: StatusLog,
    tmp_path: Path,
) -> None:
    async def land_while_main_moves(name: str, path: str, text: str) -> tuple[GitSandbox, str, str]:
        """A one-task run landed with `merge` while someone else pushes `path` to main (after
        the run's integration): the sandbox, the run's id and the commit main moved to."""
        sandbox = make_git_sandbox(tmp_path / name)
        run = await start_run(js, _request(sandbox, "merge", 1))
        moved: list[str] = []

        def push_to_main() -> None:
            (sandbox.repo / path).write_text(text)
            git(sandbox.repo, "add", "-A")
            git(sandbox.repo, "commit", "-q", "-m", f"someone else: {path}")
            git(sandbox.repo, "push", "-q", "origin", "main")
            moved.append(git(sandbox.repo, "rev-parse", "HEAD").strip())

        integrator = Integrator(sandbox, tmp_path / f"{name}-integrator")
        await _play_tasks(executor, integrator, 1, before_last=push_to_main)
        return sandbox, run, moved[0]

    # Someone pushes to main while the run goes on: another file merges cleanly...
    clean, run, moved = await land_while_main_moves("clean", "other.txt", "x\n")
    (done,) = await status_log.wait_for(run, "run.landed")
    assert isinstance(done, RunLanded)
    parents = git(clean.remote, "log", "-1", "--format=%P", "main").split()
    assert parents[0] == moved and done.commit == git(clean.remote, "rev-parse", "main").strip()
    assert "Merge cc/" in git(clean.remote, "log", "-1", "--format=%s", "main")

    # ...the same file, changed differently, does not: LAND_FAILED, and main is left alone.
    clashing, run, moved = await land_while_main_moves("clashing", "t1.1.txt", "theirs\n")
    (failed,) = await status_log.wait_for(run, "run.failed")
    assert isinstance(failed, RunFailed)
    assert failed.error_code is FailureCode.LAND_FAILED
    assert "does not merge cleanly" in failed.error and "t1.1.txt" in failed.error
    assert git(clashing.remote, "rev-parse", "main").strip() == moved
    assert "run.succeeded" not in status_log.types(run)


@pytest.mark.usefixtures("lander_app")
async def test_land_pr_opens_a_draft_once_updates_it_and_marks_it_ready(
    js: JetStreamContext,
    executor: TestExecutor,
    status_log: StatusLog,
    sandbox: GitSandbox,
    tmp_path: Path,
    fake_github: FakeGitHub,
) -> None:
    request = _request(sandbox, "pr", 1, 1)
    await start_run(js, request)
    integrator = Integrator(sandbox, tmp_path)
    landed = await _play_tasks(executor, integrator, 1)
    # the first integrated task opens the draft; the second one then changes what it says
    (opened,) = await status_log.wait_for(request.run_id, "run.pull_request")
    landed += await _play_tasks(executor, integrator, 1)

    (done,) = await status_log.wait_for(request.run_id, "run.landed")
    assert isinstance(done, RunLanded) and done.pull_request is not None
    await status_log.wait_for(request.run_id, "run.succeeded")
    assert done.commit == landed[-1]
    assert not fake_github.violations, fake_github.violations

    (pull,) = fake_github.pulls
    integration = f"cc/{request.run_id[:8]}/integration"
    assert (pull.head, pull.base, pull.draft) == (integration, "main", False)
    assert done.pull_request.number == pull.number and done.pull_request.state == "open"
    assert pull.title == f"CommandCenter: Widgets (run {request.run_id[:8]})"
    assert "- [x] 1.1 Task 1.1" in (pull.body or "")
    assert "- [x] 2.1 Task 2.1" in (pull.body or "")
    operations = [r.operation for r in fake_github.requests]
    assert operations.count("pulls/create") == 1  # opened once, as a draft
    created = next(r for r in fake_github.requests if r.operation == "pulls/create")
    assert created.body["draft"] is True
    assert operations.count("pulls/update") >= 1  # the body followed the batches
    assert operations.count("graphql") == 1  # marked ready once
    assert isinstance(opened, PullRequestUpdated) and opened.pull_request.state == "draft"
    updates = [e for e in status_log.of(request.run_id) if isinstance(e, PullRequestUpdated)]
    assert updates[-1].pull_request.state == "open"
    # the token never reaches an event
    assert all(TOKEN not in repr(e) for e in status_log.of(request.run_id))
