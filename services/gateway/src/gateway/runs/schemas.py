"""Request and response bodies of the runs API, as msgspec Structs.

Request bodies forbid unknown fields (a typo is a 400 naming the field, not a silently ignored
option) and carry their bounds (`gateway.fields`), so litestar rejects bad input before any
handler runs and the OpenAPI schema shows the constraints.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, ClassVar

import msgspec
from commandcenter_contracts import ExecutionMode, LandMode, MergeStyle

from gateway.fields import (
    COMMAND_AGENT_RULES,
    Agent,
    Argv,
    BatchNumber,
    Budget,
    GitRef,
    ModelName,
    PathText,
    PlanPath,
    TimeoutSeconds,
    ToolRule,
)
from gateway.links import RunLinks


# --- requests -------------------------------------------------------------------------------
class RunRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """`POST /api/v1/runs`: run a selection of a plan's batches."""

    plan_path: PlanPath
    """The plan file; relative paths are resolved against the gateway's `CC_PLAN_ROOT`."""
    start_batch: BatchNumber | None = None
    end_batch: BatchNumber | None = None
    phase: BatchNumber | None = None
    execution_mode: ExecutionMode | None = None
    mode: ExecutionMode | None = None
    """Alias of `execution_mode`."""
    repo: PathText | None = None
    """Local mode: the repository's path; dagger mode: a path or URL. Default: the git
    repository containing the plan file."""
    base_ref: GitRef = "HEAD"
    remote: PathText | None = None
    agent: Agent | None = None
    agent_argv: Argv | None = None
    """The command of `agent: command` (argv, never a shell line)."""
    timeout_s: TimeoutSeconds | None = None
    continue_on_failure: bool = False
    fix_rounds: Annotated[int, msgspec.Meta(ge=0, le=10)] = 2
    """Times the agent is sent back to fix a check that failed (on its work, or on the
    integration branch) before the task fails; 0: never."""
    max_turns: Annotated[int, msgspec.Meta(ge=1, le=1000)] | None = None
    """The agent's turn limit per task (a task's `**Max turns:**` in the plan wins)."""
    model: ModelName | None = None
    """The agent's model (a task's `**Model:**` in the plan wins)."""
    allowed_tools: Annotated[list[ToolRule], msgspec.Meta(max_length=100)] | None = None
    """Local mode: the tools the Claude agent may use without asking (e.g. `Edit`,
    `Bash(pytest:*)`); default: edits and the programs of each task's checks. Never a shell."""
    max_cost_usd: Budget | None = None
    """The run's budget in US dollars: once its agents spent this much, no new task starts,
    running ones finish, and the run halts BUDGET_EXCEEDED (`POST …/budget` raises it)."""
    integration_branch: GitRef | None = None
    """Where the run's tasks are combined, each as one commit, and later tasks start from.
    Default: `cc/<run8>/integration`. Must pass `git check-ref-format --branch`."""
    merge_style: MergeStyle = MergeStyle.SQUASH
    """`squash`: one commit per task on the integration branch; `merge`: a merge commit."""
    land: LandMode = LandMode.BRANCH
    """What becomes of the integration branch when the run succeeds: it is the result
    (`branch`), a pull request into the base branch (`pr`, a draft from the first integrated
    task on), or the base branch is fast-forwarded to it (`merge`)."""
    keep_task_branches: bool = False
    """Local mode: keep each task's branch in the repository. By default a task's branch is
    deleted there once it was pushed or integrated (a failed task's stays for inspection)."""

    json_schema_extra: ClassVar[dict[str, Any]] = {
        "allOf": [
            *COMMAND_AGENT_RULES,
            *(  # `mode` is an alias: both given, they agree
                {
                    "not": {
                        "required": ["mode", "execution_mode"],
                        "properties": {"mode": {"const": a}, "execution_mode": {"const": b}},
                    }
                }
                for a in ExecutionMode
                for b in ExecutionMode
                if a != b
            ),
        ]
    }
    """For the OpenAPI document (`gateway.api_schema`): what the server checks of several
    fields together."""


class AutonomousStartRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """`POST /api/v1/autonomous/start`: the original call, kept as it was."""

    plan_path: PlanPath
    start_batch: BatchNumber | None = None
    end_batch: BatchNumber | None = None
    execution_mode: ExecutionMode = ExecutionMode.LOCAL
    phase: BatchNumber | None = None
    repo: PathText | None = None
    base_ref: GitRef = "HEAD"
    agent: Agent | None = None
    auto_merge: bool | None = None
    """The original switch: `true` lands the run by merging it into the base branch
    (`land: "merge"`); absent or `false` keeps the integration branch (`land: "branch"`)."""

    json_schema_extra: ClassVar[dict[str, Any]] = {
        # No `agent_argv` in the original call: the `command` agent cannot be given one.
        "allOf": [{"properties": {"agent": {"not": {"const": "command"}}}}]
    }
    """For the OpenAPI document (`gateway.api_schema`)."""

    def to_run_request(self) -> RunRequest:
        # Every field but `auto_merge` is the canonical request's field of the same name.
        fields = msgspec.structs.asdict(self)
        land = LandMode.MERGE if fields.pop("auto_merge") else LandMode.BRANCH
        return RunRequest(**fields, land=land)


# --- responses ------------------------------------------------------------------------------
class RunCreated(msgspec.Struct, frozen=True, kw_only=True):
    """The 202 of both start calls (`execution_id` is the original name of `id`)."""

    id: str
    execution_id: str
    status: str
    batches_scheduled: list[int | str]
    """Batch numbers as written (an int when the number is all digits)."""
    tasks_scheduled: int
    links: RunLinks
    warnings: list[str] = []
    """Accepted, but worth saying: tasks of the selected batches that depend on tasks of
    batches the run leaves out, when no `base_ref` says where their work is."""


class PullRequestView(msgspec.Struct, frozen=True, kw_only=True):
    url: str
    number: int
    state: str
    """`draft`, `open`, `merged` or `closed`."""


class TokenCounts(msgspec.Struct, frozen=True, kw_only=True):
    input: int = 0
    output: int = 0
    cache_read: int = 0
    cache_creation: int = 0


class ReplayRefusal(msgspec.Struct, frozen=True, kw_only=True):
    """A replay of the task the planner did not carry out (the gateway had answered 202)."""

    request_id: str
    """The `request_id` of the refused replay's answer."""
    reason: str
    at: datetime


class TaskView(msgspec.Struct, frozen=True, kw_only=True):
    task_id: str
    plan_task_id: str
    title: str
    status: str
    attempt: int
    branch: str
    commit: str | None
    pushed: bool
    integrated_commit: str | None
    """The commit on the run's integration branch that holds this task's work."""
    cost_usd: float
    """What its agent spent, every attempt and fix round together."""
    tokens: TokenCounts
    turns: int
    model: str | None
    fix_rounds: int
    """Fix rounds of its latest attempt: times the agent was sent back to fix a check."""
    step: str | None
    error_code: str | None
    error: str | None
    started_at: datetime | None
    finished_at: datetime | None
    replay_refused: ReplayRefusal | None = None
    """The last replay of the task the planner refused since its latest attempt was queued."""


class BatchView(msgspec.Struct, frozen=True, kw_only=True):
    index: int | None
    phase: str | None
    number: str
    title: str
    status: str
    started_at: datetime | None
    finished_at: datetime | None
    integrated_commit: str | None
    """The integration branch's tip once every task of the batch was integrated."""
    tasks: list[TaskView]


class TaskCounts(msgspec.Struct, frozen=True, kw_only=True):
    pending: int = 0
    """Planned, in a batch that has not started yet."""
    queued: int = 0
    running: int = 0
    succeeded: int = 0
    failed: int = 0
    cancelled: int = 0
    total: int = 0


class RunBasics(msgspec.Struct, frozen=True, kw_only=True):
    """The first fields of a run in the list and in its view."""

    id: str
    execution_id: str
    status: str
    mode: str
    plan_path: str
    repo: str
    agent: str
    requested_by: str


class RunSummary(RunBasics, frozen=True, kw_only=True):
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None
    error: str | None
    counts: TaskCounts
    base_ref: str
    integration_branch: str
    integration_commit: str | None
    land: str
    pull_request: PullRequestView | None
    cost_usd: float
    """What the run's agents spent so far."""
    max_cost_usd: float | None


class RunView(RunBasics, frozen=True, kw_only=True):
    selection: dict[str, str | None]
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None
    error: str | None
    batches: list[BatchView]
    counts: TaskCounts
    base_ref: str
    integration_branch: str
    """Where the run's tasks are combined (later tasks start from it)."""
    integration_commit: str | None
    """Its tip: the run's combined work so far."""
    merge_style: str
    land: str
    landed_commit: str | None
    """What the base branch was moved to (land `merge`), or the tip the pull request was
    marked ready at (land `pr`)."""
    pull_request: PullRequestView | None
    cost_usd: float
    """What the run's agents spent so far, every task, attempt and fix round."""
    max_cost_usd: float | None
    """The run's budget (None: none)."""


class RunList(msgspec.Struct, frozen=True, kw_only=True):
    items: list[RunSummary]
    count: int
