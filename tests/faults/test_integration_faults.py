"""The merge queue under faults: an executor killed between its merge and its push, or after the
integration push and before its ack, two replicas pushing to the integration branch at the
same instant, and two replicas finishing together taking turns instead. Whatever happens, each
task's work lands on the integration branch exactly once (the checker's fourth invariant)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.faults.checker import CheckSummary
from tests.faults.harness import Bus, FaultStack, StatusWatch, batch_of, count, of_type
from tests.faults.report import FaultReport
from tests.support.polling import eventually

pytestmark = [pytest.mark.faults, pytest.mark.integration]

EXECUTOR = "executor-local-1"

# Git runs the hook with the updated refs on stdin, "old new name" per line. It acts on the
# first update of an existing integration branch (its creation at the base is left alone); the
# same push deletes the task's branch, on a line of its own.
_HOOK_HEAD = """\
import pathlib, sys, time
marks = pathlib.Path(MARKS)
lines = [line.split() for line in sys.stdin.read().splitlines()]
refs = next((l for l in lines if len(l) == 3 and l[2].endswith("/integration")), [])
update = bool(refs) and set(refs[0]) != {"0"}
"""


def _install(fs: FaultStack, name: str, body: str) -> None:
    fs.install_hook(name, _HOOK_HEAD.replace("MARKS", repr(str(fs.marks))) + body)


async def test_executor_killed_between_the_merge_and_the_integration_push(
    fault_stack: FaultStack, bus: Bus, fault: FaultReport
) -> None:
    fault.scenario(
        "2c. `kill -9` the local executor between its merge and its integration push",
        injected="a pre-receive hook holds task 1.1's push to the integration branch (the "
        "combined commit made, the branch not moved); SIGKILL to executor-local-1, then the "
        "hook refuses the push the dead executor started",
    )
    fs = fault_stack
    held, release = fs.marks / "held", fs.marks / "release"
    _install(
        fs,
        "pre-receive",
        "if update and not (marks / 'held').exists():\n"
        "    (marks / 'held').write_text(' '.join(refs))\n"
        "    for _ in range(200):\n"
        "        if (marks / 'release').exists():\n"
        "            break\n"
        "        time.sleep(0.1)\n"
        "    sys.exit(1)  # the pusher is dead: nothing of its push lands\n",
    )
    run_id, base = await fs.start_run([batch_of(1, 2)])
    refs = await eventually(
        lambda: held.exists() and held.read_text(), within_s=60, what="the push held"
    )
    old_pid = fs.kill(EXECUTOR)
    release.write_text("go")
    await fs.wait_restarted(EXECUTOR, old_pid)
    summary = await bus.run_succeeded(run_id, base)

    # the held push was task 1.1's (the first to move the branch after its creation)
    assert summary.deliveries == {"1.1": 2, "1.2": 1}
    fs.assert_work_of_last_agent(summary.commits)
    assert sorted(summary.integrated) == ["1.1", "1.2"]
    pushed = refs.split()[1]
    fault.note(
        "the merged commit of the killed delivery never landed "
        f"({pushed[:12]} refused); the redelivery found its pushed work, merged it again and "
        f"landed it once ({summary.integrated['1.1'][:12]})"
    )


async def test_executor_killed_after_the_integration_push_before_the_ack(
    fault_stack: FaultStack, bus: Bus, fault: FaultReport
) -> None:
    fault.scenario(
        "2d. `kill -9` the local executor after its integration push, before the ack",
        injected="a post-receive hook holds task 1.1's push to the integration branch for 4 s "
        "after the branch moved; SIGKILL to executor-local-1 then",
    )
    fs = fault_stack
    held = fs.marks / "held"
    _install(
        fs,
        "post-receive",
        "if update and not (marks / 'held').exists():\n"
        "    (marks / 'held').write_text(' '.join(refs))\n"
        "    time.sleep(4)\n",
    )
    watch = await StatusWatch().open(fs.nats_url)
    try:
        run_id, base = await fs.start_run([batch_of(1, 2)])
        refs = await eventually(
            lambda: held.exists() and held.read_text(), within_s=60, what="the push held"
        )
        old_pid = fs.kill(EXECUTOR)
        landed = refs.split()[1]
        await fs.wait_restarted(EXECUTOR, old_pid)
        summary = await bus.run_succeeded(run_id, base)
    finally:
        await watch.close()

    assert summary.deliveries == {"1.1": 2, "1.2": 1}
    assert summary.integrated["1.1"] == landed  # the commit the dead executor pushed
    recognised = count(watch.seen, of_type("task.progress", step="already_integrated"))
    assert recognised == 1
    fault.note(
        f"the redelivery found task 1.1 on the integration branch ({landed[:12]}) and "
        "reported it without running the agent or merging again"
    )


def _two_replicas(launch: Callable[..., FaultStack], *, turns: str) -> FaultStack:
    return launch(
        dagger_executors=2,
        extra_env={
            "CC_DAGGER_SLOTS": "1",
            "CC_DAGGER_BACKEND": "engineless",
            "CC_DAGGER_INTEGRATION_TURNS": turns,
        },
    )


@pytest.fixture
def dagger_stack(launch: Callable[..., FaultStack]) -> FaultStack:
    """Replicas that race: without integration turns, only the compare-and-set decides."""
    return _two_replicas(launch, turns="off")


@pytest.fixture
def dagger_turns_stack(launch: Callable[..., FaultStack]) -> FaultStack:
    return _two_replicas(launch, turns="on")


async def _two_tasks_on_dagger(fs: FaultStack) -> CheckSummary:
    """A run of one batch of two tasks, to the dagger replicas; what it left once it succeeded."""
    bus = await Bus.open(fs)
    try:
        run_id, base = await fs.start_run([batch_of(1, 2)], execution_mode="dagger")
        return await bus.run_succeeded(run_id, base, within_s=180)
    finally:
        await bus.nc.close()


async def test_two_replicas_integrating_at_the_same_instant(
    dagger_stack: FaultStack, fault: FaultReport
) -> None:
    fault.scenario(
        "2e. two dagger replicas push to the integration branch at the same instant",
        injected="a pre-receive hook holds each push to the integration branch until both "
        "replicas' pushes are waiting, then lets them go together",
    )
    fs = dagger_stack
    _install(
        fs,
        "pre-receive",
        "if update and not (marks / 'raced').exists():\n"
        "    (marks / f'waiting-{refs[1]}').write_text(refs[1])\n"
        "    for _ in range(300):\n"
        "        if len(list(marks.glob('waiting-*'))) >= 2:\n"
        "            break\n"
        "        time.sleep(0.05)\n"
        "    (marks / 'raced').write_text('both pushed')\n",
    )
    summary = await _two_tasks_on_dagger(fs)

    waiting = sorted(fs.marks.glob("waiting-*"))
    assert len(waiting) == 2, "both replicas should have pushed at the same time"
    assert sorted(summary.integrated) == ["1.1", "1.2"]
    logs = fs.log_text("executor-dagger-1") + fs.log_text("executor-dagger-2")
    fault.note(
        "both pushes were held until both waited, then let go together: one moved the branch, "
        "the other's lease failed"
        + (" and it combined again on the new tip" if "combining again" in logs else "")
        + "; each task landed exactly once"
    )


async def test_two_replicas_finishing_together_take_turns(
    dagger_turns_stack: FaultStack, fault: FaultReport
) -> None:
    fault.scenario(
        "2f. two dagger replicas finish at the same instant, with integration turns",
        injected="a pre-receive hook makes each push to the integration branch take a second, "
        "and notes whether another one was under way meanwhile",
    )
    fs = dagger_turns_stack
    _install(
        fs,
        "pre-receive",
        "import os\n"
        "if update:\n"
        "    me = marks / f'inside-{os.getpid()}'\n"
        "    others = [p.name for p in marks.glob('inside-*')]\n"
        "    if others:\n"
        "        (marks / f'overlap-{os.getpid()}').write_text(' '.join(others))\n"
        "    me.write_text(refs[1])\n"
        "    time.sleep(1.0)\n"
        "    me.unlink()\n"
        "    (marks / f'pushed-{os.getpid()}').write_text(refs[1])\n",
    )
    summary = await _two_tasks_on_dagger(fs)

    assert sorted(summary.integrated) == ["1.1", "1.2"]
    assert len(list(fs.marks.glob("pushed-*"))) == 2  # one push each: nobody lost a race
    assert list(fs.marks.glob("overlap-*")) == [], "a replica pushed while the other held the turn"
    logs = fs.log_text("executor-dagger-1") + fs.log_text("executor-dagger-2")
    assert "combining again" not in logs
    fault.note(
        "each replica pushed once, never while the other's push was under way; no lease failed "
        "and nobody combined again; each task landed exactly once"
    )
