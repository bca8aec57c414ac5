"""Batch selection in the planner, the `run.failed` message, and the settings."""

from __future__ import annotations

import pytest
from cc_planfile import SelectionError, parse_plan
from commandcenter_contracts import BatchSelection, Plan, PlanBatch, PlanTask
from planner.domain.planning import plan_run, run_failed
from planner.settings import Settings, SettingsError
from planner_support import make_plan, make_request

PLAN_TEXT = """# Two phases

## Phase 1: Foundations

### Batch 1: Setup

#### Task 1.1.1: Create the config
**Files:**
- Create: config.toml

**Verification:**
- `test -s config.toml`

## Phase 2: Features

### Batch 1: API

#### Task 2.1.1: Add the endpoint
Write it.

### Batch 2: UI

#### Task 2.2.1: Add the page
Write it too.
"""


def _two_phase_plan() -> Plan:
    return Plan(
        title="p",
        batches=[
            PlanBatch(phase=p, number="1", title=f"P{p}", tasks=[PlanTask(id=f"{p}.1", title="t")])
            for p in ("1", "2")
        ],
    )


def test_selection_picks_the_batches_in_plan_order() -> None:
    request = make_request(
        make_plan(1, 2, 3, 4), selection=BatchSelection(start_batch="2", end_batch="3")
    )
    planned = plan_run(request, default_timeout_s=1800)
    assert [b.number for b in planned.progress.batches] == ["2", "3"]
    assert [len(b) for b in planned.tasks.batches] == [2, 3]
    assert planned.tasks.batches[0][0].plan_task_id == "2.1"
    assert planned.tasks.batches[0][0].batch_index == 0


def test_a_parsed_markdown_plan_with_a_phase_selection() -> None:
    plan = parse_plan(PLAN_TEXT, source="inline")
    request = make_request(plan, selection=BatchSelection(phase="2"))
    planned = plan_run(request, default_timeout_s=1800)
    assert [(b.phase, b.number) for b in planned.progress.batches] == [("2", "1"), ("2", "2")]
    assert planned.tasks.batches[1][0].plan_task_id == "2.2.1"


def test_an_ambiguous_selection_is_refused_with_its_candidates() -> None:
    request = make_request(_two_phase_plan(), selection=BatchSelection(start_batch="1"))
    with pytest.raises(SelectionError) as info:
        plan_run(request, default_timeout_s=1800)
    failed = run_failed(request, info.value)
    assert failed.run_id == request.run_id
    assert "ambiguous" in failed.error
    assert "phase 1 batch 1" in failed.error and "phase 2 batch 1" in failed.error
    assert run_failed(request, info.value).event_id == failed.event_id


def test_a_selection_matching_nothing_is_refused() -> None:
    request = make_request(make_plan(1), selection=BatchSelection(start_batch="7"))
    with pytest.raises(SelectionError):
        plan_run(request, default_timeout_s=1800)


def test_settings_defaults_and_environment() -> None:
    default = Settings.from_env({})
    assert default.nats_url == "nats://127.0.0.1:4222"
    assert default.default_timeout_s == 0  # none stamped: the executor's skill rules decide
    assert default.client_name.startswith("planner@")
    custom = Settings.from_env(
        {
            "CC_NATS_URL": "nats://nats:4222",
            "CC_PLANNER_TASK_TIMEOUT_S": "60",
            "CC_PLANNER_RETRY_DELAY_S": "0.5",
            "CC_PLANNER_MAX_DELIVERIES": "5",
            "CC_PLANNER_NAME": "p1",
        }
    )
    assert (custom.nats_url, custom.default_timeout_s, custom.client_name) == (
        "nats://nats:4222",
        60,
        "p1",
    )
    assert custom.max_deliveries == 5
    assert custom.redelivery_delay(1) == 0.5
    assert custom.redelivery_delay(3) == 2.0
    assert custom.redelivery_delay(100) == 30.0


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("CC_PLANNER_TASK_TIMEOUT_S", "soon"),
        ("CC_PLANNER_TASK_TIMEOUT_S", "-1"),
        ("CC_PLANNER_MAX_DELIVERIES", "1"),
    ],
)
def test_bad_settings_name_the_variable(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=name):
        Settings.from_env({name: value})
