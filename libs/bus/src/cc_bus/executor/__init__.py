"""What every executor does on the NATS side, whatever runs its tasks.

- `TaskMessageHandler.handle(task, delivery)`: one task message from its run to how it is
  settled (outcome first, then ack; retries; dead letters; hand-back on shutdown), under
  `cc_bus.consume.Consumer` like every consumer.
- `retries`: which attempt a delivery is, and retry-or-final after a failure (`RetryPolicy`:
  `CC_MAX_ATTEMPTS`, `CC_RETRY_BASE_S`, `CC_RETRY_CAP_S`; `SkillRules` from the skills).
- `NatsEventSink`: the task runner's progress and output lines, published in the background.
- `CancelRegistry` + `apply_cancel_request`: cancel requests from `cc.control.cancel.<run>`.
- `heartbeat`: in-progress acks while a block runs.
- `Presence`: the executor's `ExecutorInfo` in the `cc_executors` bucket while it lives;
  `check_agent`: whether a live executor of a mode can run an agent (the gateway asks).
- `IntegrationTurns`: replicas take turns integrating onto a run's integration branch
  (`cc_integration_turns`, advisory: the compare-and-set still decides).
- `DispatchClaims`: which stream message each dispatch was taken from (`cc_task_claims`): a
  dispatch published twice, past JetStream's memory of its id, is dropped, not run again.
- `ExecutorBus`: all of the above wired up for one executor, started and closed around the
  executor's own stop policy.

Free of any task-running code: the executor passes its `RunTask` (a `TaskRunner.run`) in.
"""

from cc_bus.executor.availability import AgentCheck, AgentVerdict, check_agent, runnable
from cc_bus.executor.cancels import CancelRegistry, apply_cancel_request
from cc_bus.executor.claims import DispatchClaims, claim_key, claims_bucket
from cc_bus.executor.delivery import DeliverySettings
from cc_bus.executor.handler import (
    Outcome,
    RunTask,
    TaskMessageHandler,
    decode_task,
    describe,
    outcome_events,
)
from cc_bus.executor.presence import Presence, executors_bucket, live_executors
from cc_bus.executor.retries import (
    NoSkillRules,
    RetryPolicy,
    SkillRules,
    Verdict,
    attempt_of,
    is_retryable,
    judge,
)
from cc_bus.executor.sink import NatsEventSink
from cc_bus.executor.turns import IntegrationTurns, turns_bucket
from cc_bus.executor.wiring import BusSettings, ExecutorBus
from cc_bus.heartbeat import heartbeat

__all__ = [
    "AgentCheck",
    "AgentVerdict",
    "BusSettings",
    "CancelRegistry",
    "DeliverySettings",
    "DispatchClaims",
    "ExecutorBus",
    "IntegrationTurns",
    "NatsEventSink",
    "NoSkillRules",
    "Outcome",
    "Presence",
    "RetryPolicy",
    "RunTask",
    "SkillRules",
    "TaskMessageHandler",
    "Verdict",
    "apply_cancel_request",
    "attempt_of",
    "check_agent",
    "claim_key",
    "claims_bucket",
    "decode_task",
    "describe",
    "executors_bucket",
    "heartbeat",
    "is_retryable",
    "judge",
    "live_executors",
    "outcome_events",
    "runnable",
    "turns_bucket",
]
