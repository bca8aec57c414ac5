"""The retry rules of task messages: attempts per delivery, retry or final, backoff, settings."""

from __future__ import annotations

import random
from collections.abc import Collection

import pytest
from cc_bus.executor import NoSkillRules, RetryPolicy, attempt_of, is_retryable, judge
from commandcenter_contracts import FailureCode, TaskDispatched, TaskFailed


def _task(attempt: int = 1, skill: str | None = None) -> TaskDispatched:
    return TaskDispatched(
        run_id="run-1",
        task_id="task-1",
        attempt=attempt,
        plan_task_id="1.1",
        batch_index=0,
        title="t",
        branch="cc/run-1/t",
        repo="/repo",
        skill=skill,
    )


def _failure(code: FailureCode, attempt: int = 1) -> TaskFailed:
    return TaskFailed(
        event_id=f"outcome-{attempt}",
        run_id="run-1",
        task_id="task-1",
        attempt=attempt,
        error_code=code,
        message="it broke",
    )


class Skill:
    """What a skill contract says: `codes` recoverable, at most `limit` attempts."""

    def __init__(self, codes: Collection[str] = (), limit: int | None = None) -> None:
        self.codes, self.limit = codes, limit

    def recoverable_codes(self, _task: TaskDispatched) -> Collection[str]:
        return self.codes

    def max_attempts(self, _task: TaskDispatched) -> int | None:
        return self.limit


def test_every_delivery_is_the_next_attempt_counted_from_the_messages_own() -> None:
    assert [attempt_of(_task(), d) for d in (1, 2, 3)] == [1, 2, 3]
    assert [attempt_of(_task(attempt=4), d) for d in (1, 2)] == [4, 5]  # a replay
    assert attempt_of(_task(), 0) == 1  # no JetStream metadata: the message's own


@pytest.mark.parametrize(
    ("code", "retryable"),
    [
        (FailureCode.INFRA, True),
        (FailureCode.TIMEOUT, True),
        (FailureCode.PUSH_FAILED, True),
        (FailureCode.AGENT_FAILED, False),
        (FailureCode.AGENT_NOT_FOUND, False),
        (FailureCode.NO_CHANGES, False),
        (FailureCode.VERIFICATION_FAILED, False),
        (FailureCode.GIT_ERROR, False),
        (FailureCode.CANCELLED, False),
    ],
)
def test_built_in_recoverable_codes(code: FailureCode, retryable: bool) -> None:
    assert is_retryable(code, _task(), NoSkillRules()) is retryable


def test_a_skill_makes_more_codes_recoverable_but_never_a_cancel() -> None:
    skill = Skill(codes={"AGENT_FAILED", "CANCELLED"})
    assert is_retryable(FailureCode.AGENT_FAILED, _task(), skill)
    assert not is_retryable(FailureCode.NO_CHANGES, _task(), skill)
    assert not is_retryable(FailureCode.CANCELLED, _task(), skill)


def test_a_recoverable_failure_is_retried_until_the_attempts_are_used_up() -> None:
    policy, rules = RetryPolicy(max_attempts=3, base_s=2, cap_s=60), NoSkillRules()
    verdicts = [
        judge(_task(), _failure(FailureCode.TIMEOUT, d), delivery=d, policy=policy, rules=rules)
        for d in (1, 2, 3)
    ]
    assert [v.outcome.will_retry for v in verdicts] == [True, True, False]
    assert [v.retry_in_s is not None for v in verdicts] == [True, True, False]
    assert all(v.outcome.recoverable for v in verdicts)
    assert [v.dead_letter for v in verdicts] == [False, False, True]
    # the event keeps its identity: one outcome per attempt
    assert [v.outcome.event_id for v in verdicts] == ["outcome-1", "outcome-2", "outcome-3"]


def test_deliveries_past_the_limit_are_final_at_once() -> None:
    # crash redeliveries count as attempts: delivery 4 of a 3-attempt task gets no retry
    verdict = judge(
        _task(),
        _failure(FailureCode.INFRA, 4),
        delivery=4,
        policy=RetryPolicy(max_attempts=3),
        rules=NoSkillRules(),
    )
    assert verdict.retry_in_s is None and not verdict.outcome.will_retry and verdict.dead_letter


def test_an_unrecoverable_failure_is_final_and_dead_lettered_a_cancel_is_not() -> None:
    policy, rules = RetryPolicy(), NoSkillRules()
    failed = judge(
        _task(), _failure(FailureCode.VERIFICATION_FAILED), delivery=1, policy=policy, rules=rules
    )
    assert failed.retry_in_s is None and failed.dead_letter
    assert not failed.outcome.recoverable and not failed.outcome.will_retry
    cancelled = judge(
        _task(), _failure(FailureCode.CANCELLED), delivery=1, policy=policy, rules=rules
    )
    assert cancelled.retry_in_s is None and not cancelled.dead_letter


def test_the_skill_bounds_the_attempts_the_smaller_limit_wins() -> None:
    policy = RetryPolicy(max_attempts=3)
    assert policy.limit(_task(), Skill(limit=2)) == 2
    assert policy.limit(_task(), Skill(limit=10)) == 3
    assert policy.limit(_task(), Skill()) == 3
    skill = Skill(codes={"AGENT_FAILED"}, limit=2)
    first, second = (
        judge(
            _task(), _failure(FailureCode.AGENT_FAILED, d), delivery=d, policy=policy, rules=skill
        )
        for d in (1, 2)
    )
    assert first.outcome.will_retry and first.outcome.recoverable
    assert not second.outcome.will_retry and second.dead_letter


def test_backoff_is_full_jitter_under_an_exponential_ceiling_with_a_cap() -> None:
    policy = RetryPolicy(base_s=2, cap_s=60)
    rng = random.Random(7)
    for n, ceiling in [(1, 2), (2, 4), (3, 8), (5, 32), (6, 60), (40, 60), (10_000, 60)]:
        delays = [policy.backoff_s(n, rng) for _ in range(200)]
        assert all(0 <= d <= ceiling for d in delays), (n, max(delays))
        assert max(delays) > ceiling / 2  # jitter spans the range, not a fixed step
    verdict = judge(
        _task(),
        _failure(FailureCode.TIMEOUT),
        delivery=1,
        policy=RetryPolicy(base_s=0.2),
        rules=NoSkillRules(),
        rng=rng,
    )
    assert verdict.retry_in_s is not None and 0 <= verdict.retry_in_s <= 0.2


def test_the_policy_is_read_from_the_environment() -> None:
    assert RetryPolicy.from_env({}) == RetryPolicy(max_attempts=3, base_s=2, cap_s=60)
    policy = RetryPolicy.from_env(
        {"CC_MAX_ATTEMPTS": "5", "CC_RETRY_BASE_S": "0.2", "CC_RETRY_CAP_S": "9"}
    )
    assert policy == RetryPolicy(max_attempts=5, base_s=0.2, cap_s=9)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"CC_MAX_ATTEMPTS": "2.5"}, "CC_MAX_ATTEMPTS must be a whole number"),
        ({"CC_MAX_ATTEMPTS": "0"}, "CC_MAX_ATTEMPTS must be positive"),
        ({"CC_RETRY_BASE_S": "soon"}, "CC_RETRY_BASE_S must be a number"),
        ({"CC_RETRY_CAP_S": "-1"}, "CC_RETRY_CAP_S must be positive"),
    ],
)
def test_bad_values_name_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RetryPolicy.from_env(env)


def test_max_deliver_must_stay_above_the_attempts() -> None:
    policy = RetryPolicy(max_attempts=3)
    policy.check_max_deliver(4)
    for max_deliver in (3, 2):
        with pytest.raises(ValueError, match=r"CC_MAX_DELIVER \(\d\) must be larger"):
            policy.check_max_deliver(max_deliver)
