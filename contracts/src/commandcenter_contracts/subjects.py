"""Every subject, stream, consumer and bucket name of CommandCenter, in one place.

Services never write these strings inline: they import them from here.
"""

from __future__ import annotations

from typing import Final

# --- subjects -------------------------------------------------------------------------------
PHASE_START: Final = "cc.phase.start"

TASK_DISPATCH_PREFIX: Final = "cc.task.dispatch"
TASK_DISPATCH_LOCAL: Final = "cc.task.dispatch.local"
TASK_DISPATCH_DAGGER: Final = "cc.task.dispatch.dagger"
TASK_DISPATCH_ALL: Final = "cc.task.dispatch.>"
TASK_DEAD: Final = "cc.task.dead"

STATUS_PREFIX: Final = "cc.status"
STATUS_ALL: Final = "cc.status.>"

LOG_PREFIX: Final = "cc.log"
LOG_ALL: Final = "cc.log.>"

# Control messages (cancel) are core NATS, fire-and-forget, fanned out to every executor.
CONTROL_PREFIX: Final = "cc.control"
CONTROL_CANCEL_ALL: Final = "cc.control.cancel.>"
# Replay requests are JetStream (stream CC_PHASES, durable `planner-replay`): the planner must
# not miss one while it restarts, and each is carried out once.
CONTROL_REPLAY: Final = "cc.control.replay"
# Landing requests (planner → its lander, stream CC_PHASES, durable `planner-land`): opening or
# updating a run's pull request, or fast-forwarding its base branch, away from the status loop.
CONTROL_LAND: Final = "cc.control.land"

# JetStream's own advisory when a consumer gave up on a message after `max_deliver` deliveries,
# `$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.<stream>.<consumer>`; captured by CC_ADVISORIES.
ADVISORY_MAX_DELIVERIES_PREFIX: Final = "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES"

# --- streams --------------------------------------------------------------------------------
STREAM_PHASES: Final = "CC_PHASES"
STREAM_TASKS: Final = "CC_TASKS"
STREAM_STATUS: Final = "CC_STATUS"
STREAM_LOGS: Final = "CC_LOGS"
STREAM_DEAD: Final = "CC_DEAD"
STREAM_ADVISORIES: Final = "CC_ADVISORIES"

# --- durable consumers ----------------------------------------------------------------------
CONSUMER_PLANNER: Final = "planner"
CONSUMER_PLANNER_PROGRESS: Final = "planner-progress"
CONSUMER_EXECUTOR_LOCAL: Final = "executor-local"
CONSUMER_EXECUTOR_DAGGER: Final = "executor-dagger"
CONSUMER_PROJECTOR: Final = "gateway-projector"
CONSUMER_PLANNER_REPLAY: Final = "planner-replay"
CONSUMER_PLANNER_LAND: Final = "planner-land"
CONSUMER_PLANNER_ADVISORIES: Final = "planner-advisories"
CONSUMER_DEAD_LETTERS: Final = "gateway-dead-letters"

# --- key-value buckets ----------------------------------------------------------------------
KV_PLANNER_RUNS: Final = "cc_planner_runs"
# Executors announce themselves here (id, mode, slots, agents), refreshed while they live.
KV_EXECUTORS: Final = "cc_executors"
# Executor replicas take turns integrating onto a run's integration branch (in memory).
KV_INTEGRATION_TURNS: Final = "cc_integration_turns"
# Executors claim each dispatch (`<task>:<attempt>`) for the stream message they took it from.
KV_TASK_CLAIMS: Final = "cc_task_claims"


def task_dispatch_subject(mode: str) -> str:
    """`cc.task.dispatch.<mode>` for an execution mode (`local` or `dagger`)."""
    return f"{TASK_DISPATCH_PREFIX}.{mode}"


def status_subject(run_id: str) -> str:
    """`cc.status.<run>`: every status event of one run."""
    return f"{STATUS_PREFIX}.{run_id}"


def log_subject(run_id: str, task_id: str) -> str:
    """`cc.log.<run>.<task>`: the agent output of one task."""
    return f"{LOG_PREFIX}.{run_id}.{task_id}"


def cancel_subject(run_id: str) -> str:
    """`cc.control.cancel.<run>`: ask every executor to stop the run's tasks."""
    return f"{CONTROL_PREFIX}.cancel.{run_id}"


def max_deliveries_advisory_subject(stream: str, consumer: str = "*") -> str:
    """The MAX_DELIVERIES advisory subject of a consumer (`*`: every consumer of `stream`)."""
    return f"{ADVISORY_MAX_DELIVERIES_PREFIX}.{stream}.{consumer}"
