"""How many tasks the dagger replicas `up` starts may hold at once: replicas x slots, unless
the user set `CC_DAGGER_MAX_IN_FLIGHT` (which `up` used to override)."""

from __future__ import annotations

from commandcenter.stack import dagger_in_flight


def test_replicas_times_slots_by_default() -> None:
    assert dagger_in_flight({}, 3) == {"CC_DAGGER_MAX_IN_FLIGHT": "12"}
    assert dagger_in_flight({"CC_DAGGER_SLOTS": "2"}, 3) == {"CC_DAGGER_MAX_IN_FLIGHT": "6"}


def test_the_users_own_limit_is_kept() -> None:
    env = {"CC_DAGGER_MAX_IN_FLIGHT": "5", "CC_DAGGER_SLOTS": "2"}
    assert dagger_in_flight(env, 3) == {}


def test_bad_slots_are_left_for_the_executor_to_name() -> None:
    assert dagger_in_flight({"CC_DAGGER_SLOTS": "many"}, 2) == {}
