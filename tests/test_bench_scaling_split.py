"""Benchmark 4's CPU split: where each task's CPU went, the replicas of a service summed."""

from __future__ import annotations

import pytest

from bench.cpu_budget import STARTED, Spent, describe_split, median_split, shares
from bench.scaling import by_role


def test_replicas_and_what_they_started_are_summed_by_service() -> None:
    spent = Spent(
        {
            "executor-dagger-1": 0.2,
            "executor-dagger-1" + STARTED: 0.5,
            "executor-dagger-12": 0.1,
            "executor-dagger-12" + STARTED: 0.4,
            "gateway": 0.3,
            "gateway" + STARTED: 0.0,
            "nats-server": 0.2,
        },
        machine_s=2.0,
    )
    split = by_role(shares(spent, 1.0))
    assert split == pytest.approx(
        {
            "executor-dagger": 0.3,
            "executor-dagger" + STARTED: 0.9,
            "gateway": 0.3,
            "gateway" + STARTED: 0.0,
            "nats-server": 0.2,
            "rest": 0.3,
        }
    )


def test_the_split_is_the_median_largest_first_without_the_crumbs() -> None:
    splits = [
        {"executor-dagger" + STARTED: 100.0, "gateway": 20.0, "planner": 0.2},
        {"executor-dagger" + STARTED: 90.0, "gateway": 30.0, "planner": 0.3},
        {"executor-dagger" + STARTED: 95.0, "gateway": 25.0},
    ]
    split = median_split(splits)
    assert list(split) == ["executor-dagger" + STARTED, "gateway", "planner"]
    assert split["planner"] == 0.2  # a repetition without it counts 0
    assert describe_split(split, decimals=0, least=0.5) == (
        "executor-dagger (processes it started) 95, gateway 25"
    )
