"""From a start request to the messages that start a run: read and parse the plan, check the
batch selection, find the repository, choose the agent.

Plain domain logic (files and the plan parser, no NATS, no HTTP): every refusal is an
`InvalidRequest` naming the request field at fault.
"""

from __future__ import annotations

import stat
from dataclasses import dataclass, field
from pathlib import Path

from cc_planfile import SelectionError, dependencies_outside, select_batches
from cc_taskrunner.agents import agent_names
from cc_taskrunner.agents.claude.invocation import ToolRuleError, check_tool_rule
from cc_taskrunner.branches import check_branch_name
from cc_taskrunner.errors import GitError
from commandcenter_contracts import (
    AgentSpec,
    BatchSelection,
    ExecutionMode,
    PhaseStartRequested,
    Plan,
    PlanBatch,
    RunAccepted,
    default_integration_branch,
    new_id,
)

from gateway.confinement import URL
from gateway.domain_errors import InvalidRequest, NotFound
from gateway.plans.reading import PlanSource, path_kind, read_plan
from gateway.runs.schemas import RunRequest

_ANNOUNCED = (
    "run_id",
    "mode",
    "plan_path",
    "selection",
    "repo",
    "requested_by",
    "base_ref",
    "integration_branch",
    "merge_style",
    "land",
    "max_cost_usd",
)
"""What the planner's order (`PhaseStartRequested`) says as the run's announcement
(`RunAccepted`) does: every field of the announcement but its own (its event id and time) and
the agent (a name there, the whole spec in the order)."""


@dataclass(frozen=True, kw_only=True)
class PreparedRun:
    """Everything needed to record and start one run."""

    run_id: str
    plan_path: Path
    plan: Plan
    batches: list[PlanBatch]
    phase_start: PhaseStartRequested
    accepted: RunAccepted
    selection: BatchSelection = field(default_factory=BatchSelection)

    @property
    def tasks_scheduled(self) -> int:
        return sum(len(batch.tasks) for batch in self.batches)

    @property
    def warnings(self) -> list[str]:
        """Dependencies the selection leaves out; none once `base_ref` points at earlier work."""
        if self.accepted.base_ref != "HEAD":
            return []
        return [skipped.message for skipped in dependencies_outside(self.plan, self.batches)]

    @property
    def batches_scheduled(self) -> list[int | str]:
        """Batch numbers as written; all-digit numbers as ints, like the original API."""
        return [int(b.number) if b.number.isdigit() else b.number for b in self.batches]


def normalise_number(value: int | str | None) -> str | None:
    """`3` and `" 3 "` both mean batch `"3"`; empty means no bound."""
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def find_repository(start: Path) -> Path | None:
    """The nearest directory at or above `start` with a `.git` (a directory, or a file in a
    worktree or submodule)."""
    for directory in (start, *start.parents):
        if (directory / ".git").exists():
            return directory
    return None


def resolve_repo(
    repo: str | None, *, plan_path: Path, plans: PlanSource, mode: ExecutionMode
) -> str:
    """The run's repository: a path inside the allowed roots, or (dagger mode) a URL the
    allowed remotes match."""
    confinement = plans.confinement
    if repo is None:
        found = find_repository(plan_path.parent)
        if found is None:
            raise InvalidRequest(
                "repo",
                f"no git repository contains {plan_path}; pass `repo` (the repository's path)",
            )
        return str(confinement.path("repo", str(found), found))
    if URL.match(repo):
        if mode == ExecutionMode.LOCAL:
            raise InvalidRequest(
                "repo", f"local mode runs in a repository on this machine: give a path, not {repo}"
            )
        return confinement.remote("repo", repo)
    path = Path(repo)
    path = confinement.path("repo", repo, path if path.is_absolute() else plans.root / path)
    kind = path_kind(path, "repo", "repository")
    if kind is None:
        raise NotFound(f"repository {path}")
    if not stat.S_ISDIR(kind):
        raise InvalidRequest("repo", f"repository is not a directory: {path}")
    return str(path)


def check_agent(name: str, field: str = "agent") -> str:
    """A known agent's name, else a `InvalidRequest` listing the known ones."""
    known = agent_names()
    if name not in known:
        raise InvalidRequest(field, f"unknown agent {name!r}; known: {', '.join(known)}")
    return name


def check_tool_rules(rules: list[str] | None) -> list[str] | None:
    if rules is None:
        return None
    try:
        return [check_tool_rule(rule) for rule in rules]
    except ToolRuleError as exc:
        raise InvalidRequest("allowed_tools", str(exc)) from exc


def _agent(request: RunRequest, default_agent: str) -> AgentSpec:
    name = check_agent(request.agent or default_agent)
    if name == "command" and not request.agent_argv:
        raise InvalidRequest("agent_argv", "agent `command` needs `agent_argv` (a list of str)")
    if name != "command" and request.agent_argv:
        raise InvalidRequest("agent_argv", f"`agent_argv` is only for agent `command`, not {name}")
    return AgentSpec(name=name, argv=list(request.agent_argv or []), model=request.model)


def _integration_branch(request: RunRequest, run_id: str) -> str:
    """The request's integration branch (checked like a task branch), or the default."""
    name = request.integration_branch or default_integration_branch(run_id)
    try:
        check_branch_name(name)
    except GitError as exc:
        raise InvalidRequest("integration_branch", exc.message) from exc
    base = request.base_ref.removeprefix("refs/heads/")
    if name == base:
        raise InvalidRequest(
            "integration_branch",
            f"the integration branch cannot be the base branch {base!r}: every task would "
            'move it; use `land: "merge"` to move the base branch once the run succeeded',
        )
    return name


def _mode(request: RunRequest) -> ExecutionMode:
    if request.mode and request.execution_mode and request.mode != request.execution_mode:
        raise InvalidRequest(
            "mode",
            f"`mode` ({request.mode}) and `execution_mode` ({request.execution_mode}) disagree",
        )
    return ExecutionMode(request.execution_mode or request.mode or ExecutionMode.LOCAL)


def prepare_run(
    request: RunRequest,
    *,
    plans: PlanSource,
    default_agent: str,
    requested_by: str = "anonymous",
    run_id: str | None = None,
) -> PreparedRun:
    """Check a start request against the plan on disk and build the run's first messages."""
    mode = _mode(request)
    agent = _agent(request, default_agent)
    plan_path, plan = read_plan(request.plan_path, plans)
    selection = BatchSelection(
        start_batch=normalise_number(request.start_batch),
        end_batch=normalise_number(request.end_batch),
        phase=normalise_number(request.phase),
    )
    try:
        batches = select_batches(plan, selection)
    except SelectionError as exc:
        raise InvalidRequest("selection", str(exc), exc.candidates) from exc
    if not any(batch.tasks for batch in batches):
        raise InvalidRequest("selection", "the selected batches have no tasks")
    repo = resolve_repo(request.repo, plan_path=plan_path, plans=plans, mode=mode)
    remote = None if request.remote is None else plans.confinement.push_remote(request.remote)

    run_id = run_id or new_id()
    integration_branch = _integration_branch(request, run_id)
    accepted = RunAccepted(
        run_id=run_id,
        mode=mode,
        plan_path=str(plan_path),
        selection=selection,
        repo=repo,
        agent=agent.name,
        requested_by=requested_by,
        base_ref=request.base_ref,
        integration_branch=integration_branch,
        merge_style=request.merge_style,
        land=request.land,
        max_cost_usd=request.max_cost_usd,
    )
    phase_start = PhaseStartRequested(
        event_id=new_id(),
        plan=plan,
        remote=remote,
        agent=agent,
        timeout_s=request.timeout_s,
        continue_on_failure=request.continue_on_failure,
        fix_rounds=request.fix_rounds,
        max_turns=request.max_turns,
        allowed_tools=check_tool_rules(request.allowed_tools),
        keep_task_branches=request.keep_task_branches,
        **{name: getattr(accepted, name) for name in _ANNOUNCED},
    )
    return PreparedRun(
        run_id=run_id,
        plan_path=plan_path,
        plan=plan,
        batches=batches,
        phase_start=phase_start,
        accepted=accepted,
        selection=selection,
    )
