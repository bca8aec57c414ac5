"""Request and response bodies of the HTTP API, as msgspec Structs.

Request bodies forbid unknown fields (a typo is a 400 naming the field, not a silently ignored
option) and carry their bounds as `msgspec.Meta`, so litestar rejects bad input before any
handler runs and the OpenAPI schema shows the constraints.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
from commandcenter_contracts import ExecutorInfo

# --- field types ----------------------------------------------------------------------------
BatchNumber = (
    Annotated[
        int, msgspec.Meta(ge=0, le=1_000_000, description="a batch or phase number as written")
    ]
    | Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[^\x00]+$")]
)
"""`3` or `"3"` or `"2a"`: normalised to the string written in the plan."""

PathText = Annotated[str, msgspec.Meta(min_length=1, max_length=4096, pattern=r"^[^\x00]+$")]
GitRef = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=256,
        # Never an option to git (no leading `-`), never whitespace or NUL.
        pattern=r"^[^\s\x00-][^\s\x00]*$",
        description="a branch, tag or commit of the repository",
    ),
]
Mode = Literal["local", "dagger"]
Agent = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=64,
        pattern=r"^[a-z][a-z0-9-]*$",
        description="an agent the executors know (`GET /ready` lists them): claude, command, "
        "plan-follower, …",
    ),
]
ModelName = Annotated[
    str, msgspec.Meta(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:@/\[\]-]*$")
]
ToolRule = Annotated[str, msgspec.Meta(min_length=1, max_length=200, pattern=r"^[^\x00\n]+$")]
Land = Literal["branch", "pr", "merge"]
MergeStyle = Literal["squash", "merge"]
Argv = Annotated[
    list[Annotated[str, msgspec.Meta(max_length=4096, pattern=r"^[^\x00]*$")]],
    msgspec.Meta(min_length=1, max_length=256),
]
TimeoutSeconds = Annotated[float, msgspec.Meta(gt=0, le=7 * 24 * 3600)]
Command = Annotated[str, msgspec.Meta(min_length=1, max_length=4096, pattern=r"^[^\x00]+$")]


# --- requests -------------------------------------------------------------------------------
class RunRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """`POST /api/v1/runs`: run a selection of a plan's batches."""

    plan_path: PathText
    """The plan file; relative paths are resolved against the gateway's `CC_PLAN_ROOT`."""
    start_batch: BatchNumber | None = None
    end_batch: BatchNumber | None = None
    phase: BatchNumber | None = None
    execution_mode: Mode | None = None
    mode: Mode | None = None
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
    max_cost_usd: Annotated[float, msgspec.Meta(gt=0, le=1_000_000)] | None = None
    """The run's budget in US dollars: once its agents spent this much, no new task starts,
    running ones finish, and the run halts BUDGET_EXCEEDED (`POST …/budget` raises it)."""
    integration_branch: GitRef | None = None
    """Where the run's tasks are combined, each as one commit, and later tasks start from.
    Default: `cc/<run8>/integration`. Must pass `git check-ref-format --branch`."""
    merge_style: MergeStyle = "squash"
    """`squash`: one commit per task on the integration branch; `merge`: a merge commit."""
    land: Land = "branch"
    """What becomes of the integration branch when the run succeeds: it is the result
    (`branch`), a pull request into the base branch (`pr`, a draft from the first integrated
    task on), or the base branch is fast-forwarded to it (`merge`)."""


class AutonomousStartRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """`POST /api/v1/autonomous/start`: the original call, kept as it was."""

    plan_path: PathText
    start_batch: BatchNumber | None = None
    end_batch: BatchNumber | None = None
    execution_mode: Mode = "local"
    phase: BatchNumber | None = None
    repo: PathText | None = None
    base_ref: GitRef = "HEAD"
    agent: Agent | None = None
    auto_merge: bool | None = None
    """The original switch: `true` lands the run by merging it into the base branch
    (`land: "merge"`); absent or `false` keeps the integration branch (`land: "branch"`)."""

    def to_run_request(self) -> RunRequest:
        return RunRequest(
            plan_path=self.plan_path,
            start_batch=self.start_batch,
            end_batch=self.end_batch,
            phase=self.phase,
            execution_mode=self.execution_mode,
            repo=self.repo,
            base_ref=self.base_ref,
            agent=self.agent,
            land="merge" if self.auto_merge else "branch",
        )


class ReplayRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """`POST /api/v1/tasks/{task_id}/replay` (and `/runs/{id}/replay-failed`): every field is
    optional and replaces that part of the task's last dispatch for the new attempt."""

    agent: Agent | None = None
    agent_argv: Argv | None = None
    """With `agent: command`: the argv to run (never a shell line)."""
    timeout_s: TimeoutSeconds | None = None
    verification: Annotated[list[Command], msgspec.Meta(max_length=100)] | None = None
    """Verification commands replacing the task's own (`[]`: none)."""


class BudgetRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """`POST /api/v1/runs/{id}/budget`: a new budget; a run halted by its budget resumes."""

    max_cost_usd: Annotated[float, msgspec.Meta(gt=0, le=1_000_000)]


class CancelRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """`POST /api/v1/runs/{id}/cancel`."""

    reason: Annotated[str, msgspec.Meta(max_length=1000)] = ""


class PlanParseRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """`POST /api/v1/plans/parse`: exactly one of `plan_path` and `text`."""

    plan_path: PathText | None = None
    text: Annotated[str, msgspec.Meta(max_length=5_000_000)] | None = None


# --- responses ------------------------------------------------------------------------------
class RunLinks(msgspec.Struct, frozen=True, kw_only=True):
    self: str
    events: str


class RunCreated(msgspec.Struct, frozen=True, kw_only=True):
    """The 202 of both start calls (`execution_id` is the original name of `id`)."""

    id: str
    execution_id: str
    status: str
    batches_scheduled: list[int | str]
    """Batch numbers as written (an int when the number is all digits)."""
    tasks_scheduled: int
    links: RunLinks


class ReplayLinks(msgspec.Struct, frozen=True, kw_only=True):
    run: str
    events: str


class ReplayAccepted(msgspec.Struct, frozen=True, kw_only=True):
    """One task replay handed to the planner (202)."""

    task_id: str
    run_id: str
    plan_task_id: str
    request_id: str
    attempt: int
    """The attempt the replay runs as (the task's latest attempt + 1)."""
    status: str = "replay_requested"
    links: ReplayLinks


class ReplaysAccepted(msgspec.Struct, frozen=True, kw_only=True):
    """`replay-failed`: every replay it handed to the planner (202)."""

    run_id: str
    replays: list[ReplayAccepted]
    count: int


class CancelAccepted(msgspec.Struct, frozen=True, kw_only=True):
    """The run's cancel was announced (202): executors stop its agents within seconds."""

    id: str
    status: str = "cancelling"
    previous_status: str
    links: RunLinks


class BudgetAccepted(msgspec.Struct, frozen=True, kw_only=True):
    """The run's new budget was handed to the planner (202)."""

    id: str
    max_cost_usd: float
    previous_status: str
    links: RunLinks


class DeadLetterView(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    subject: str
    """Where the original message was consumed from."""
    error_code: str
    error: str
    run_id: str | None
    task_id: str | None
    attempt: int | None
    num_delivered: int
    at: datetime
    stream_seq: int
    """The letter's position in CC_DEAD."""
    task: dict[str, Any] | None
    """The original task message, when the letter has one."""
    raw: str | None
    """The original bytes (as text) when they were not a readable task."""


class DeadLetterList(msgspec.Struct, frozen=True, kw_only=True):
    items: list[DeadLetterView]
    count: int


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


class RunSummary(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    execution_id: str
    status: str
    mode: str
    plan_path: str
    repo: str
    agent: str
    requested_by: str
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


class RunView(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    execution_id: str
    status: str
    mode: str
    plan_path: str
    repo: str
    agent: str
    requested_by: str
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


class Readiness(msgspec.Struct, frozen=True, kw_only=True):
    nats: str
    postgres: str
    streams: str
    executors: list[ExecutorInfo] = []
    """The executors alive now: their mode, slots, agents (for Claude: the CLI's version and
    the name of the credential it uses), as they announce themselves."""


class ExecutorList(msgspec.Struct, frozen=True, kw_only=True):
    items: list[ExecutorInfo]
    count: int
