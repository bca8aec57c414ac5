"""A task's flow as a list of small named steps, the same for every executor and backend:

    isolate (start from the integration tip) → already done? → agent → commit → verify
    → push the task's branch → integrate

Each step reads and writes the `Attempt` and returns None to go on, or the outcome that ends
the attempt. Every command goes through the attempt's `Workspace`, so a git worktree, a fresh
clone and a container run the very same steps.
"""

from __future__ import annotations

from cc_taskrunner.attempt import Step
from cc_taskrunner.steps.agent import run_agent
from cc_taskrunner.steps.commit import commit
from cc_taskrunner.steps.done import already_done
from cc_taskrunner.steps.integrate import integrate
from cc_taskrunner.steps.push import push
from cc_taskrunner.steps.start import start_from_integration
from cc_taskrunner.steps.verify import verify

TASK_STEPS: tuple[Step, ...] = (
    start_from_integration,
    already_done,
    run_agent,
    commit,
    verify,
    push,
    integrate,
)

STEP_NAMES: dict[Step, str] = {
    start_from_integration: "start_from_integration",
    already_done: "already_done",
    run_agent: "agent",
    commit: "commit",
    verify: "verify",
    push: "push",
    integrate: "integrate",
}
"""What traces call each step (the isolation's `prepare` before them is `isolate`)."""


def step_name(step: Step) -> str:
    return STEP_NAMES.get(step) or str(getattr(step, "__name__", "step"))


__all__ = [
    "STEP_NAMES",
    "TASK_STEPS",
    "already_done",
    "commit",
    "integrate",
    "push",
    "run_agent",
    "start_from_integration",
    "step_name",
    "verify",
]
