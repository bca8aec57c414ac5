"""Attempts and retries of a task message: which attempt a delivery is, and what follows a failure.

1. Attempt number = delivery. Every JetStream delivery of a `TaskDispatched` is an attempt:
   `attempt = task.attempt + (num_delivered - 1)`, where `task.attempt` is the message's base
   (1 for a first dispatch, n+1 for a replay). Every event of that delivery (started, progress,
   log lines, outcome) carries it; the outcome's event id is derived from (task, attempt).
   Crash redeliveries and hand-backs on shutdown are deliveries too, so they count.
2. A failure is retried when it is recoverable — `INFRA`, `TIMEOUT`, `PUSH_FAILED`
   (`is_recoverable`) or a code the task's skill contract marks `recoverable: true` — and the
   message has had fewer deliveries than its attempt limit: `CC_MAX_ATTEMPTS`, or the skill
   contract's `retries.max_attempts` when that is smaller. A retry publishes
   `TaskFailed(will_retry=True)` and naks the message with a delay: exponential backoff with
   full jitter, `uniform(0, min(cap, base * 2**(n-1)))` where n is the delivery that failed
   (`CC_RETRY_BASE_S`, `CC_RETRY_CAP_S`). n counts this message's deliveries — the attempt
   number for a first dispatch — so a replay starts its backoff afresh.
3. A failure carrying a `Rework` (the work could not be integrated: a clash with the
   integration branch, or checks that fail only on the combined tree) is re-run from the
   integration tip as a NEW task message, which the planner dispatches when it sees
   `TaskFailed(will_retry=True, rework=…)`; the executor acks this one. Re-runs per task:
   `CC_MAX_REWORKS` (the rework's `round` counts them); after that the failure is final.
4. Any other failure is final: `TaskFailed(will_retry=False)`, then a `DeadLetter` on
   `cc.task.dead` (the original task message, the code and message, `num_delivered`), then the
   message is acked. `CANCELLED` is final but no dead letter: a cancel is a person's decision.

The consumer's `max_deliver` must stay above the attempt limit (`check_max_deliver`): the
executor, not JetStream's give-up, decides on the last attempt.
"""

from __future__ import annotations

import random
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Protocol

import msgspec
from commandcenter_contracts import (
    Env,
    FailureCode,
    SettingsError,
    TaskDispatched,
    TaskFailed,
    is_recoverable,
)


class SkillRules(Protocol):
    """What a task's skill contract says about retries (`cc_taskrunner.SkillCatalog`)."""

    def recoverable_codes(self, task: TaskDispatched) -> Collection[str]: ...

    def max_attempts(self, task: TaskDispatched) -> int | None: ...


class NoSkillRules:
    """No skills: only the built-in recoverable codes and `CC_MAX_ATTEMPTS`."""

    def recoverable_codes(self, _task: TaskDispatched) -> Collection[str]:
        return ()

    def max_attempts(self, _task: TaskDispatched) -> int | None:
        return None


@dataclass(frozen=True, kw_only=True)
class RetryPolicy:
    max_attempts: int = 3
    """`CC_MAX_ATTEMPTS`: attempts one task message gets at most (a skill may lower it)."""
    base_s: float = 2.0
    """`CC_RETRY_BASE_S`: backoff base; the n-th failure waits up to base * 2**(n-1)."""
    cap_s: float = 60.0
    """`CC_RETRY_CAP_S`: the longest wait before a retry."""
    max_reworks: int = 2
    """`CC_MAX_REWORKS`: re-runs of a task from the integration tip after an integration
    conflict, before it fails MERGE_CONFLICT (or VERIFICATION_FAILED on the combined tree)."""

    @classmethod
    def from_env(cls, env: Env | Mapping[str, str] | None = None) -> RetryPolicy:
        env = env if isinstance(env, Env) else Env(env)
        return cls(
            max_attempts=env.whole("CC_MAX_ATTEMPTS", cls.max_attempts, positive=True),
            base_s=env.number("CC_RETRY_BASE_S", cls.base_s, positive=True),
            cap_s=env.number("CC_RETRY_CAP_S", cls.cap_s, positive=True),
            max_reworks=env.whole("CC_MAX_REWORKS", cls.max_reworks, low=0),
        )

    def check_max_deliver(self, max_deliver: int) -> None:
        """Refuse a consumer that would give up before the last attempt could run."""
        if max_deliver <= self.max_attempts:
            raise SettingsError(
                f"CC_MAX_DELIVER ({max_deliver}) must be larger than CC_MAX_ATTEMPTS "
                f"({self.max_attempts}): every attempt is a delivery, crash redeliveries count "
                "too, and JetStream must not give up before the executor has decided"
            )

    def limit(self, task: TaskDispatched, rules: SkillRules) -> int:
        """Attempts this task message may get: the setting, or the skill's if smaller."""
        skill_limit = rules.max_attempts(task)
        return min(self.max_attempts, skill_limit) if skill_limit else self.max_attempts

    def backoff_s(self, n: int, rng: random.Random | None = None) -> float:
        """Full jitter: uniform(0, min(cap, base * 2**(n-1))) before the retry of failure n."""
        ceiling = min(self.cap_s, self.base_s * 2 ** max(0, min(n - 1, 62)))
        return (rng or random).uniform(0.0, ceiling)


def attempt_of(task: TaskDispatched, delivery: int) -> int:
    """The attempt a delivery (`num_delivered`, 1 for the first) of `task` stands for."""
    return task.attempt + max(delivery, 1) - 1


def is_retryable(code: FailureCode, task: TaskDispatched, rules: SkillRules) -> bool:
    """Whether another attempt could succeed: built-in recoverable codes, or the skill says so.
    A cancel never is: it is a person's decision."""
    if code is FailureCode.CANCELLED:
        return False
    return is_recoverable(code) or str(code) in rules.recoverable_codes(task)


@dataclass(frozen=True)
class Verdict:
    """What follows a failed attempt: `outcome` to publish, then a retry after `retry_in_s`
    (None: final), and for a final failure whether it goes to the dead letters."""

    outcome: TaskFailed
    retry_in_s: float | None
    dead_letter: bool
    rework: bool = False
    """The planner re-runs the task from the integration tip (ack this message)."""


def judge(
    task: TaskDispatched,
    failure: TaskFailed,
    *,
    delivery: int,
    policy: RetryPolicy,
    rules: SkillRules,
    rng: random.Random | None = None,
) -> Verdict:
    """Decide on `failure`, the outcome of delivery `delivery` of the message `task`."""
    if failure.rework is not None:
        if failure.rework.round <= policy.max_reworks:
            rework = msgspec.structs.replace(failure, recoverable=True, will_retry=True)
            return Verdict(rework, None, dead_letter=False, rework=True)
        final = msgspec.structs.replace(failure, recoverable=False, will_retry=False)
        return Verdict(final, None, dead_letter=True)
    retryable = is_retryable(failure.error_code, task, rules)
    outcome = msgspec.structs.replace(failure, recoverable=retryable, will_retry=False)
    if retryable and max(delivery, 1) < policy.limit(task, rules):
        retry = msgspec.structs.replace(outcome, will_retry=True)
        return Verdict(retry, policy.backoff_s(max(delivery, 1), rng), dead_letter=False)
    return Verdict(outcome, None, dead_letter=failure.error_code is not FailureCode.CANCELLED)
