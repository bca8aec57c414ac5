"""Both executors take and give back task messages by the same `CC_…` settings."""

from __future__ import annotations

import pytest
from cc_bus.executor import DeliverySettings, RetryPolicy
from commandcenter_contracts import Env, SettingsError


def test_defaults() -> None:
    delivery = DeliverySettings.from_env(Env({}))
    assert (delivery.ack_wait_s, delivery.heartbeat_s, delivery.max_deliver) == (60, 15, 5)
    assert delivery.retry_delay_s == 5
    assert delivery.retry == RetryPolicy(max_attempts=3, base_s=2, cap_s=60)


def test_every_variable_is_read() -> None:
    environ = {
        "CC_ACK_WAIT_S": "8",
        "CC_HEARTBEAT_S": "1",
        "CC_MAX_DELIVER": "4",
        "CC_MAX_ATTEMPTS": "3",
        "CC_RETRY_BASE_S": "0.5",
        "CC_RETRY_CAP_S": "30",
        "CC_RETRY_DELAY_S": "2",
        "CC_MAX_REWORKS": "1",
    }
    delivery = DeliverySettings.from_env(Env(environ))
    assert (delivery.ack_wait_s, delivery.heartbeat_s, delivery.max_deliver) == (8, 1, 4)
    assert delivery.retry_delay_s == 2
    assert delivery.retry == RetryPolicy(max_attempts=3, base_s=0.5, cap_s=30, max_reworks=1)


def test_the_heartbeat_follows_ack_wait_unless_set() -> None:
    assert DeliverySettings.from_env(Env({"CC_ACK_WAIT_S": "40"})).heartbeat_s == 10


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"CC_ACK_WAIT_S": "soon"}, "CC_ACK_WAIT_S must be a number"),
        ({"CC_MAX_DELIVER": "0"}, "CC_MAX_DELIVER must be positive"),
        ({"CC_RETRY_DELAY_S": "-2"}, "CC_RETRY_DELAY_S must be positive"),
        ({"CC_ACK_WAIT_S": "10", "CC_HEARTBEAT_S": "10"}, "must be shorter than CC_ACK_WAIT_S"),
        ({"CC_MAX_ATTEMPTS": "5"}, r"CC_MAX_DELIVER \(5\) must be larger than CC_MAX_ATTEMPTS"),
        ({"CC_MAX_DELIVER": "3"}, r"CC_MAX_DELIVER \(3\) must be larger"),
        ({"CC_RETRY_BASE_S": "0"}, "CC_RETRY_BASE_S must be positive"),
    ],
)
def test_bad_values_are_refused_with_the_variable_named(
    environ: dict[str, str], message: str
) -> None:
    with pytest.raises(SettingsError, match=message):
        DeliverySettings.from_env(Env(environ))
