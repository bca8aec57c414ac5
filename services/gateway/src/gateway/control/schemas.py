"""Request and response bodies of replay, cancel and budget."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

import msgspec

from gateway.fields import COMMAND_AGENT_RULES, Agent, Argv, Budget, Command, TimeoutSeconds
from gateway.links import ReplayLinks, RunLinks


# --- requests -------------------------------------------------------------------------------
class ReplayRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """`POST /api/v1/tasks/{task_id}/replay` (and `/runs/{id}/replay-failed`): every field is
    optional and replaces that part of the task's last dispatch for the new attempt."""

    agent: Agent | None = None
    agent_argv: Argv | None = None
    """With `agent: command`: the argv to run (never a shell line)."""

    json_schema_extra: ClassVar[dict[str, Any]] = {"allOf": COMMAND_AGENT_RULES}
    """For the OpenAPI document (`gateway.api_schema`)."""
    timeout_s: TimeoutSeconds | None = None
    verification: Annotated[list[Command], msgspec.Meta(max_length=100)] | None = None
    """Verification commands replacing the task's own (`[]`: none)."""


class BudgetRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """`POST /api/v1/runs/{id}/budget`: a new budget; a run halted by its budget resumes."""

    max_cost_usd: Budget


class CancelRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """`POST /api/v1/runs/{id}/cancel`."""

    reason: Annotated[str, msgspec.Meta(max_length=1000)] = ""


# --- responses ------------------------------------------------------------------------------
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
