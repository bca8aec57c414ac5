"""One trace per started run, across the whole stack: the gateway's request, the planner's
handling of the phase start and its dispatch, the executor's handling of the task message, the
task and its steps — exported by every service over OTLP/HTTP to a real collector, the trace
context carried across NATS in message headers."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from commandcenter.stack import Stack

from tests.e2e.helpers import api_client, running_stack, sandbox_with_plan, start_run, wait_for_run
from tests.support.otlp_collector import CollectedSpan, OtlpCollector
from tests.support.polling import eventually_sync

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

AGENT = "import pathlib; pathlib.Path('traced.txt').write_text('traced')"

PLAN = """# Traced plan

## Batch 1: One task

### Task 1.1: Write traced.txt

Write traced.txt.

**Verification:**
- `test -s traced.txt`

**Commit:** feat: traced
"""

STEPS = ("isolate", "agent", "verify", "push", "integrate")


@pytest.fixture(scope="module")
def collector() -> Iterator[OtlpCollector]:
    with OtlpCollector() as running:
        yield running


@pytest.fixture(scope="module")
def traced_stack(
    tmp_path_factory: pytest.TempPathFactory, collector: OtlpCollector
) -> Iterator[Stack]:
    with running_stack(
        tmp_path_factory.mktemp("stack"),
        local_executors=1,
        dagger_executors=0,
        extra_env={
            "OTEL_EXPORTER_OTLP_ENDPOINT": collector.endpoint,
            "OTEL_BSP_SCHEDULE_DELAY": "200",  # ms: spans reach the collector soon after
        },
        say=lambda _: None,
    ) as running:
        yield running


def _one(spans: list[CollectedSpan], what: str) -> CollectedSpan:
    assert len(spans) == 1, f"{what}: {[(s.service, s.name) for s in spans]}"
    return spans[0]


def test_gateway_planner_and_executor_spans_share_one_trace(
    traced_stack: Stack, collector: OtlpCollector, tmp_path: Path
) -> None:
    _, plan = sandbox_with_plan(tmp_path / "git", PLAN)
    with api_client(traced_stack) as client:
        run_id = start_run(client, plan, agent="command", agent_argv=[sys.executable, "-c", AGENT])
        view = wait_for_run(client, run_id)
    assert view["status"] == "succeeded", view

    def the_trace() -> list[CollectedSpan]:
        spans = collector.spans()
        request = _one(
            [s for s in spans if s.service == "gateway" and s.name == "POST /api/v1/runs"],
            "the start request",
        )
        in_trace = [s for s in spans if s.trace_id == request.trace_id]
        services = {s.service for s in in_trace}
        assert {"gateway", "planner", "executor-local"} <= services, services
        names = {s.name for s in in_trace if s.service == "executor-local"}
        assert {"task", *STEPS} <= names, names
        # a parent ends after its children (a message's span ends at its ack): wait for it too
        ids = {s.span_id for s in in_trace}
        orphans = [s.name for s in in_trace if s.parent_span_id and s.parent_span_id not in ids]
        assert not orphans, f"spans whose parent has not arrived yet: {orphans}"
        return in_trace

    spans = eventually_sync(
        the_trace,
        within_s=30,
        what="the run's spans from every service, in one trace",
        detail=lambda: sorted({(s.service, s.name, s.trace_id) for s in collector.spans()}),
    )
    by_id = {s.span_id: s for s in spans}

    def parent(span: CollectedSpan) -> CollectedSpan:
        assert span.parent_span_id in by_id, f"{span.name}'s parent is not in the trace"
        return by_id[span.parent_span_id]

    # gateway request -> planner handles the phase start -> dispatch -> executor -> task -> steps
    request = _one([s for s in spans if s.name == "POST /api/v1/runs"], "the request")
    assert request.parent_span_id == ""  # the trace's root
    phase = _one(
        [
            s
            for s in spans
            if s.service == "planner"
            and s.attributes.get("messaging.destination.name") == "cc.phase.start"
        ],
        "the planner's handling of the phase start",
    )
    assert phase.attributes.get("cc.run_id") == run_id
    assert parent(phase).service == "gateway"
    dispatch = _one(
        [s for s in spans if s.name == "dispatch cc.task.dispatch.local"], "the dispatch"
    )
    assert dispatch.service == "planner" and parent(dispatch) == phase
    assert dispatch.attributes.get("cc.plan_task_id") == "1.1"
    task = _one([s for s in spans if s.name == "task"], "the task")
    handling = parent(task)
    assert handling.service == "executor-local" and handling.name == "executor-local process"
    assert parent(handling) == dispatch
    assert task.attributes.get("cc.outcome") == "succeeded"
    for step in STEPS:
        span = _one([s for s in spans if s.name == step and s.service == "executor-local"], step)
        assert parent(span) == task, f"{step} is not a child of the task"
