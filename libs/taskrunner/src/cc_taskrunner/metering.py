"""How long an attempt spent in each step, for `cc_task_step_seconds{mode,step}`.

Steps are named for the operator, not the code: `isolate` is the checkout (the isolation's
`prepare`), the start from the integration tip and the look for work already done; then
`agent`, `commit`, `verify`, `push`, `integrate`. A fix round's agent run counts in the step
that asked for it. A step with nothing to do in this attempt (no checks, no remote, work
recovered from an earlier delivery) is not observed, so it does not drag the figures to zero.

    meter = StepMeter()
    runner = TaskRunner(meter.isolation(isolation), ..., steps=meter.steps(TASK_STEPS))
    outcome = await runner.run(task, ...)
    meter.record(task.mode)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from cc_observe.metrics import StepDurations
from commandcenter_contracts import TaskDispatched

from cc_taskrunner.attempt import Attempt, Step
from cc_taskrunner.ports import Isolation, Workspace
from cc_taskrunner.reporting import Outcome
from cc_taskrunner.steps import (
    already_done,
    commit,
    integrate,
    push,
    run_agent,
    start_from_integration,
    step_name,
    verify,
)

ISOLATE = "isolate"

METERED: dict[Step, str] = {
    start_from_integration: ISOLATE,
    already_done: ISOLATE,
    run_agent: "agent",
    commit: "commit",
    verify: "verify",
    push: "push",
    integrate: "integrate",
}


def _idle(step: str, a: Attempt) -> bool:
    """Whether the step will return at once in this attempt (see each step's first lines)."""
    if step in ("agent", "commit", "verify", "push") and a.recovered:
        return True
    if step == "verify":
        return not a.task.verification
    if step == "push":
        return a.workspace.remote is None
    if step == "integrate":
        return a.integration is None
    return False


class StepMeter:
    """The durations of one attempt (a new meter per attempt)."""

    def __init__(self) -> None:
        self.durations = StepDurations()

    def isolation(self, inner: Isolation) -> Isolation:
        return _MeteredIsolation(inner, self.durations)

    def steps(self, steps: Iterable[Step]) -> tuple[Step, ...]:
        return tuple(self._metered(step) for step in steps)

    def record(self, mode: str) -> None:
        self.durations.record(str(mode))

    def _metered(self, step: Step) -> Step:
        name = METERED.get(step)
        if name is None:
            return step

        async def metered(a: Attempt) -> Outcome | None:
            if _idle(name, a):
                return await step(a)
            with self.durations.timing(name):
                return await step(a)

        _keep_name(metered, step)
        return metered


def _keep_name(wrapper: Callable[..., object], step: Step) -> None:
    # Traces name each step by `step_name`: the wrapper answers to the step's own name.
    wrapper.__name__ = wrapper.__qualname__ = step_name(step)


class _MeteredIsolation:
    def __init__(self, inner: Isolation, durations: StepDurations) -> None:
        self._inner = inner
        self._durations = durations

    async def prepare(self, task: TaskDispatched) -> Workspace:
        with self._durations.timing(ISOLATE):
            return await self._inner.prepare(task)
