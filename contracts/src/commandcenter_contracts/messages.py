"""Wire messages: what services send each other over NATS.

Rules (schema evolution): every Struct is `frozen=True, kw_only=True`; every field added after
the first release gets a default; wire messages never forbid unknown fields, so an older reader
accepts a newer writer's message and the other way round (rolling upgrades).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Literal

import msgspec

from commandcenter_contracts.errors import FailureCode
from commandcenter_contracts.plan import BatchSelection, Plan
from commandcenter_contracts.vocabulary import ExecutionMode, LandMode, MergeStyle


def new_id() -> str:
    """A fresh random id (runs, events)."""
    return str(uuid.uuid4())


def default_integration_branch(run_id: str) -> str:
    """`cc/<run8>/integration`: where a run's tasks are combined unless the request names one."""
    run8 = "".join(c for c in run_id[:8].lower() if c.isalnum() or c in "-_") or "run"
    return f"cc/{run8}/integration"


def utcnow() -> datetime:
    return datetime.now(UTC)


class AgentSpec(msgspec.Struct, frozen=True, kw_only=True):
    """Which agent runs a task. `command` needs `argv`; the others ignore it."""

    name: str = "claude"
    argv: list[str] = []
    model: str | None = None


class PhaseStartRequested(msgspec.Struct, frozen=True, kw_only=True):
    """The gateway asks the planner to run a selection of a plan's batches."""

    event_id: str
    run_id: str
    plan_path: str
    plan: Plan
    selection: BatchSelection
    mode: ExecutionMode = ExecutionMode.LOCAL
    repo: str
    """Local mode: path of the repository. Dagger mode: a URL the container can clone."""
    base_ref: str = "HEAD"
    remote: str | None = None
    """Remote to push task branches to (a name of `repo` or a URL); None: `origin` if present."""
    agent: AgentSpec = AgentSpec()
    timeout_s: float | None = None
    continue_on_failure: bool = False
    requested_by: str = "anonymous"
    requested_at: datetime = msgspec.field(default_factory=utcnow)
    integration_branch: str = ""
    """Where the run's tasks are combined; empty: `default_integration_branch(run_id)`."""
    merge_style: MergeStyle = MergeStyle.SQUASH
    land: LandMode = LandMode.BRANCH
    fix_rounds: int = 2
    max_turns: int | None = None
    allowed_tools: list[str] | None = None
    max_cost_usd: float | None = None
    """The run's budget: once its agents spent this much, no new task starts."""
    keep_task_branches: bool = False
    """Keep every task's branch (see `TaskDispatched.keep_task_branches`)."""


class Rework(msgspec.Struct, frozen=True, kw_only=True):
    """Why an attempt redoes a task whose earlier attempt could not be integrated: its changes
    clashed with the integration branch, or passed alone but failed on the combined tree. The
    agent's prompt says what clashed; the attempt starts from the integration branch's tip."""

    round: int = 1
    """1 for the first re-run of the task from the tip, 2 for the second, …"""
    after_attempt: int
    """The attempt that could not be integrated."""
    reason: Literal["conflict", "combined_checks"]
    files: list[str] = []
    """`conflict`: the files whose changes clashed."""
    command: str = ""
    """`combined_checks`: the verification command that failed on the combined tree."""
    output: str = ""
    """`combined_checks`: its exit status and the tail of its output."""
    onto: str = ""
    """The integration tip the earlier attempt was combined with."""


class TaskDispatched(msgspec.Struct, frozen=True, kw_only=True):
    """One attempt of one task, for an executor."""

    run_id: str
    task_id: str
    attempt: int = 1
    plan_task_id: str
    batch_index: int
    title: str
    body: str = ""
    files: list[str] = []
    verification: list[str] = []
    verification_notes: list[str] = []
    depends_on: list[str] = []
    skill: str | None = None
    commit_message: str | None = None
    branch: str
    repo: str
    base_ref: str = "HEAD"
    remote: str | None = None
    agent: AgentSpec = AgentSpec()
    timeout_s: float = 1800.0
    mode: ExecutionMode = ExecutionMode.LOCAL
    integration_branch: str = ""
    """The run's integration branch: the task starts from its tip and lands on it. Empty (a
    message from before integration existed): the task starts from `base_ref` and only its
    own branch is pushed."""
    merge_style: MergeStyle = MergeStyle.SQUASH
    rework: Rework | None = None
    """Set when this attempt redoes the task after an integration conflict."""
    fix_rounds: int = 2
    """Times the agent is sent back to fix checks that failed before the task fails."""
    max_turns: int | None = None
    """The agent's turn limit (Claude Code `--max-turns`); None: the agent's default."""
    allowed_tools: list[str] | None = None
    """Local worktree mode: the tools the Claude agent may use without asking; None: the
    executor's default (edits, and the programs of the task's verification commands)."""
    keep_task_branches: bool = False
    """Keep the task's branch in the user's repository after it was pushed or integrated
    (local mode deletes it then: the work is on the remote or the integration branch)."""

    @property
    def msg_id(self) -> str:
        """The `Nats-Msg-Id` of this dispatch: one per task attempt, so re-publishing dedupes."""
        return f"{self.task_id}:{self.attempt}"


class _Event(msgspec.Struct, frozen=True, kw_only=True, tag_field="type"):
    event_id: str = msgspec.field(default_factory=new_id)
    run_id: str
    at: datetime = msgspec.field(default_factory=utcnow)


# --- run events -----------------------------------------------------------------------------
class PlannedTask(msgspec.Struct, frozen=True, kw_only=True):
    task_id: str
    plan_task_id: str
    title: str
    branch: str


class PlannedBatch(msgspec.Struct, frozen=True, kw_only=True):
    index: int
    phase: str | None
    number: str
    title: str
    tasks: list[PlannedTask] = []


class RunAccepted(_Event, frozen=True, kw_only=True, tag="run.accepted"):
    mode: ExecutionMode
    max_cost_usd: float | None = None
    plan_path: str
    selection: BatchSelection
    repo: str
    agent: str = "claude"
    requested_by: str = "anonymous"
    base_ref: str = "HEAD"
    integration_branch: str = ""
    merge_style: MergeStyle = MergeStyle.SQUASH
    land: LandMode = LandMode.BRANCH


class RunPlanned(_Event, frozen=True, kw_only=True, tag="run.planned"):
    batches: list[PlannedBatch]


class RunStarted(_Event, frozen=True, kw_only=True, tag="run.started"):
    pass


class RunSucceeded(_Event, frozen=True, kw_only=True, tag="run.succeeded"):
    pass


class RunFailed(_Event, frozen=True, kw_only=True, tag="run.failed"):
    """The run could not be carried out at all (e.g. the selection matched nothing), or its
    work could not be landed (`error_code` LAND_FAILED)."""

    error: str
    error_code: FailureCode | None = None


class PullRequestRef(msgspec.Struct, frozen=True, kw_only=True):
    url: str
    number: int
    state: str
    """`draft`, `open`, `merged` or `closed`."""


class PullRequestUpdated(_Event, frozen=True, kw_only=True, tag="run.pull_request"):
    """The run's pull request (land `pr`) was opened or changed."""

    pull_request: PullRequestRef


class RunLanded(_Event, frozen=True, kw_only=True, tag="run.landed"):
    """The run's integration branch was landed as its request asked; `run.succeeded` follows."""

    land: LandMode
    target: str
    """The base branch (land `merge`, `pr`) or the integration branch (land `branch`)."""
    commit: str
    """The integration branch's tip that was landed."""
    pull_request: PullRequestRef | None = None


class RunHalted(_Event, frozen=True, kw_only=True, tag="run.halted"):
    """A task failed: the run stopped after its batch. Resumable by replaying the task.
    With `error_code` BUDGET_EXCEEDED: the run's spend reached its budget; resumable by
    raising it (`run.budget_changed`)."""

    batch_index: int
    failed_tasks: list[str] = []
    reason: str = ""
    error_code: FailureCode | None = None


class RunBudgetChanged(_Event, frozen=True, kw_only=True, tag="run.budget_changed"):
    """A person set the run's budget (`POST /api/v1/runs/{id}/budget`)."""

    max_cost_usd: float
    requested_by: str = "anonymous"


class RunResumed(_Event, frozen=True, kw_only=True, tag="run.resumed"):
    """A run halted by its budget goes on: its budget was raised above its spend."""

    reason: str = ""


class RunCancelled(_Event, frozen=True, kw_only=True, tag="run.cancelled"):
    reason: str = ""


# --- batch events ---------------------------------------------------------------------------
class BatchStarted(_Event, frozen=True, kw_only=True, tag="batch.started"):
    batch_index: int


class BatchCompleted(_Event, frozen=True, kw_only=True, tag="batch.completed"):
    batch_index: int
    succeeded: bool


class BatchIntegrated(_Event, frozen=True, kw_only=True, tag="batch.integrated"):
    """Every task of the batch is on the integration branch; `commit` is its tip then."""

    batch_index: int
    integration_branch: str
    commit: str


# --- task events ----------------------------------------------------------------------------
class TaskQueued(_Event, frozen=True, kw_only=True, tag="task.queued"):
    task_id: str
    attempt: int = 1
    batch_index: int
    plan_task_id: str
    branch: str


class TaskStarted(_Event, frozen=True, kw_only=True, tag="task.started"):
    task_id: str
    attempt: int = 1
    executor: str = ""
    """Which executor instance (host/pid) runs it."""


class TaskProgress(_Event, frozen=True, kw_only=True, tag="task.progress"):
    task_id: str
    attempt: int = 1
    step: str
    """`isolated`, `agent_started`, `agent_finished`, `committed`, `verified`, `pushed`, …"""
    message: str = ""
    fix_round: int | None = None
    """Set on the steps of a fix round (1, 2, …): the agent was sent back to fix failed checks."""


class TaskUsage(msgspec.Struct, frozen=True, kw_only=True):
    """What an agent spent on a task attempt (all its fix rounds together)."""

    cost_usd: float = 0.0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_creation_tokens: int = 0
    turns: int = 0
    model: str | None = None
    session_id: str | None = None


class TaskIntegrated(_Event, frozen=True, kw_only=True, tag="task.integrated"):
    """The task's work is on the integration branch as `commit` (published before its
    `task.succeeded`, which carries the same commit)."""

    task_id: str
    attempt: int = 1
    integration_branch: str
    commit: str
    depth: int = 0
    """Commits on the integration branch's first-parent line up to `commit`: orders the
    integrations of parallel tasks (the latest has the largest depth)."""


class TaskSucceeded(_Event, frozen=True, kw_only=True, tag="task.succeeded"):
    task_id: str
    attempt: int = 1
    branch: str
    commit: str
    pushed: bool = False
    integrated_commit: str | None = None
    """The commit on the integration branch holding the task's work (None: not integrated,
    a task message from before integration existed)."""
    integration_branch: str = ""
    integration_depth: int = 0
    """See `TaskIntegrated.depth`."""
    usage: TaskUsage | None = None
    fix_rounds: int = 0
    """How many times the agent was sent back to fix failed checks in this attempt."""


class TaskFailed(_Event, frozen=True, kw_only=True, tag="task.failed"):
    task_id: str
    attempt: int = 1
    error_code: FailureCode
    recoverable: bool = False
    message: str = ""
    will_retry: bool = False
    """True when another attempt of the task is scheduled (the task is not finished)."""
    rework: Rework | None = None
    """With `will_retry`: the attempt could not be integrated, and the planner dispatches a
    new attempt from the integration branch's tip carrying this (what clashed)."""
    usage: TaskUsage | None = None
    fix_rounds: int = 0


class TaskReplayRefused(_Event, frozen=True, kw_only=True, tag="task.replay_refused"):
    """The planner did not carry out a person's replay (`TaskReplayRequested`), and why: the
    gateway had accepted it from its read model, which may be behind the planner (another
    replay was just dispatched) or past it (the planner no longer keeps the run)."""

    task_id: str
    request_id: str
    """The refused request's `request_id`, as the gateway's answer gave it."""
    reason: str
    requested_by: str = "anonymous"


StatusEvent = (
    RunAccepted
    | RunPlanned
    | RunStarted
    | RunSucceeded
    | RunFailed
    | RunHalted
    | RunCancelled
    | RunBudgetChanged
    | RunResumed
    | RunLanded
    | PullRequestUpdated
    | BatchStarted
    | BatchCompleted
    | BatchIntegrated
    | TaskQueued
    | TaskStarted
    | TaskProgress
    | TaskIntegrated
    | TaskSucceeded
    | TaskFailed
    | TaskReplayRefused
)
TaskEvent = TaskQueued | TaskStarted | TaskProgress | TaskIntegrated | TaskSucceeded | TaskFailed
RUN_TERMINAL_TYPES: frozenset[str] = frozenset(
    {"run.succeeded", "run.failed", "run.halted", "run.cancelled"}
)


class LogLine(msgspec.Struct, frozen=True, kw_only=True):
    """One line of agent output, on `cc.log.<run>.<task>`."""

    run_id: str
    task_id: str
    attempt: int = 1
    stream: Literal["stdout", "stderr", "system"] = "stdout"
    line: str
    at: datetime = msgspec.field(default_factory=utcnow)


class CancelRequested(msgspec.Struct, frozen=True, kw_only=True):
    run_id: str
    reason: str = ""


class TaskReplayRequested(msgspec.Struct, frozen=True, kw_only=True):
    """A person asks for a new attempt of a finished (failed or cancelled) task, on
    `cc.control.replay`. The planner carries it out: it owns dispatch and the task messages.

    The overrides replace the corresponding fields of the task's last dispatch; None keeps
    them. The new attempt is the task's latest known attempt + 1.
    """

    request_id: str
    """Unique per request (the `Nats-Msg-Id`); the same id is carried out at most once."""
    run_id: str
    task_id: str
    expected_attempt: int = 0
    """The attempt the requester saw failed; 0: not known. A planner that has not seen that
    attempt finish yet waits for it; one that knows a newer attempt drops the request."""
    agent: AgentSpec | None = None
    timeout_s: float | None = None
    verification: list[str] | None = None
    requested_by: str = "anonymous"
    requested_at: datetime = msgspec.field(default_factory=utcnow)


class AgentAvailability(msgspec.Struct, frozen=True, kw_only=True):
    available: bool
    detail: str = ""
    """Where it is or why not (for Claude: the CLI's path and version, and the NAME of the
    credential it will use — never a value)."""


class ExecutorInfo(msgspec.Struct, frozen=True, kw_only=True):
    """What an executor says of itself, refreshed in the `cc_executors` bucket while it lives."""

    executor_id: str
    mode: ExecutionMode
    slots: int = 1
    agents: dict[str, AgentAvailability] = {}
    credential: str | None = None
    """The name of the credential its Claude agents use (`ANTHROPIC_API_KEY`, …), or None."""
    credentials: list[str] = []
    """The NAMES of every credential it has (never a value): the agents' variables that are
    set, `CC_GIT_TOKEN`, `CC_CLAUDE_CREDENTIALS_FILE` when it names a file."""
    version: str = ""
    started_at: datetime = msgspec.field(default_factory=utcnow)
    seen_at: datetime = msgspec.field(default_factory=utcnow)


class LandRequested(msgspec.Struct, frozen=True, kw_only=True):
    """The planner asks its lander to bring the run's landing up to date, on `cc.control.land`:
    open or update the pull request (land `pr`), and with `final`, finish the landing (mark
    the pull request ready, or fast-forward the base branch for land `merge`)."""

    request_id: str
    """Deterministic per run and stage (the `Nats-Msg-Id`)."""
    run_id: str
    final: bool = False


class DeadLetter(msgspec.Struct, frozen=True, kw_only=True):
    """A message that will not be processed again by itself: replay is a person's decision."""

    event_id: str = msgspec.field(default_factory=new_id)
    subject: str
    """Where the message was consumed from."""
    error_code: FailureCode
    error: str
    task: TaskDispatched | None = None
    raw: bytes = b""
    """The original payload when it could not be decoded."""
    num_delivered: int = 0
    at: datetime = msgspec.field(default_factory=utcnow)
