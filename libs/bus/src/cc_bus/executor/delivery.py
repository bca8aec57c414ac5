"""How an executor takes and gives back task messages: the settings both executors share."""

from __future__ import annotations

from dataclasses import dataclass, field

from commandcenter_contracts import Env, SettingsError

from cc_bus.executor.retries import RetryPolicy


@dataclass(frozen=True, kw_only=True)
class DeliverySettings:
    ack_wait_s: float = 60.0
    """`CC_ACK_WAIT_S`: a task not acked (nor heartbeated) this long goes to another executor."""
    heartbeat_s: float = 15.0
    """`CC_HEARTBEAT_S`: in-progress acks while a task runs (default: a quarter of ack_wait)."""
    max_deliver: int = 5
    """`CC_MAX_DELIVER`: deliveries of one task message before JetStream gives up on it; must
    be larger than `CC_MAX_ATTEMPTS` (crash redeliveries count as attempts too)."""
    retry_delay_s: float = 5.0
    """`CC_RETRY_DELAY_S`: redelivery delay when JetStream refuses a task's claim or outcome
    (one it does not answer is waited for in place, the message held)."""
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    """Retries of failed attempts: `CC_MAX_ATTEMPTS` (3), `CC_RETRY_BASE_S` (2),
    `CC_RETRY_CAP_S` (60), `CC_MAX_REWORKS` (2) (see `RetryPolicy`)."""

    @classmethod
    def from_env(cls, env: Env) -> DeliverySettings:
        ack_wait_s = env.number("CC_ACK_WAIT_S", cls.ack_wait_s, positive=True)
        heartbeat_s = env.number("CC_HEARTBEAT_S", ack_wait_s / 4, positive=True)
        if heartbeat_s >= ack_wait_s:
            # A heartbeat slower than ack_wait lets a running task be handed to someone else.
            raise SettingsError(
                f"CC_HEARTBEAT_S ({heartbeat_s:g}) must be shorter than CC_ACK_WAIT_S "
                f"({ack_wait_s:g})"
            )
        max_deliver = env.whole("CC_MAX_DELIVER", cls.max_deliver, positive=True)
        retry = RetryPolicy.from_env(env)
        retry.check_max_deliver(max_deliver)
        return cls(
            ack_wait_s=ack_wait_s,
            heartbeat_s=heartbeat_s,
            max_deliver=max_deliver,
            retry_delay_s=env.number("CC_RETRY_DELAY_S", cls.retry_delay_s, positive=True),
            retry=retry,
        )
