"""Preparing a run from a request: plan, selection, repository, agent (no servers needed)."""

from __future__ import annotations

from pathlib import Path

import pytest
from commandcenter.gitfixtures import GitSandbox
from gateway.confinement import Confinement
from gateway.domain_errors import InvalidRequest, NotFound
from gateway.plans.reading import PlanSource
from gateway.runs.requests import find_repository, prepare_run
from gateway.runs.schemas import RunRequest
from gateway_support import TWO_BY_TWO_PLAN


def _prepare(root: Path, **fields: object) -> object:
    request = RunRequest(**{"plan_path": "docs/plans/TWO.md", **fields})  # type: ignore[arg-type]
    return prepare_run(request, plans=plans_in(root), default_agent="claude", requested_by="t")


def plans_in(root: Path) -> PlanSource:
    """Plans under `root`, and only there."""
    return PlanSource(root, Confinement.of([root]))


@pytest.fixture
def repo(git_sandbox: GitSandbox) -> Path:
    plans = git_sandbox.repo / "docs" / "plans"
    plans.mkdir(parents=True)
    (plans / "TWO.md").write_text(TWO_BY_TWO_PLAN)
    return git_sandbox.repo


@pytest.mark.integration
def test_a_prepared_run_carries_everything(repo: Path) -> None:
    prepared = prepare_run(
        RunRequest(plan_path="docs/plans/TWO.md", start_batch=2, mode="dagger"),
        plans=plans_in(repo),
        default_agent="plan-follower",
        requested_by="bob",
        run_id="11111111-1111-4111-8111-111111111111",
    )
    assert prepared.run_id == "11111111-1111-4111-8111-111111111111"
    assert prepared.batches_scheduled == [2]
    assert prepared.tasks_scheduled == 2
    start = prepared.phase_start
    assert start.run_id == prepared.accepted.run_id == prepared.run_id
    assert start.mode == prepared.accepted.mode == "dagger"
    assert start.selection.start_batch == "2"
    assert start.selection.end_batch is None
    assert start.agent.name == "plan-follower"
    assert start.repo == str(repo.resolve())
    assert start.plan_path == str((repo / "docs/plans/TWO.md").resolve())
    assert len(start.plan.batches) == 2  # the whole plan travels; the planner selects again
    assert prepared.accepted.requested_by == "bob"


@pytest.mark.integration
def test_the_repository_is_found_from_a_nested_plan(repo: Path) -> None:
    nested = repo / "docs" / "plans"
    assert find_repository(nested) == repo
    assert find_repository(Path("/")) is None or (Path("/") / ".git").exists()


@pytest.mark.integration
@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"plan_path": "docs"}, "plan_path"),
        ({"start_batch": "3"}, "selection"),
        ({"agent": "command"}, "agent_argv"),
        ({"agent": "plan-follower", "agent_argv": ["x"]}, "agent_argv"),
        ({"mode": "local", "execution_mode": "dagger"}, "mode"),
        ({"repo": "git@example.invalid:r.git"}, "repo"),
        ({"remote": "../elsewhere"}, "remote"),
    ],
)
def test_refusals_name_the_field(repo: Path, fields: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        _prepare(repo, **fields)
    assert caught.value.field == field


@pytest.mark.integration
@pytest.mark.parametrize(
    ("fields", "what"),
    [({"plan_path": "missing.md"}, "plan file"), ({"repo": "no/dir"}, "repository")],
)
def test_what_is_missing_is_not_found(repo: Path, fields: dict[str, object], what: str) -> None:
    with pytest.raises(NotFound) as caught:
        _prepare(repo, **fields)
    assert caught.value.what.startswith(f"{what} {repo.resolve()}")


@pytest.mark.integration
def test_dagger_mode_accepts_a_repository_url(repo: Path) -> None:
    prepared = prepare_run(
        RunRequest(
            plan_path="docs/plans/TWO.md",
            execution_mode="dagger",
            repo="https://git.example.invalid/team/project.git",
        ),
        plans=plans_in(repo),
        default_agent="claude",
    )
    assert prepared.phase_start.repo == "https://git.example.invalid/team/project.git"
