"""`check_agent`: can a live executor of a mode run an agent, judged from what executors
announce."""

from __future__ import annotations

from cc_bus.executor import AgentVerdict, check_agent
from commandcenter_contracts import AgentAvailability, ExecutionMode, ExecutorInfo

LOCAL, DAGGER = ExecutionMode.LOCAL, ExecutionMode.DAGGER
MISSING = AgentAvailability(available=False, detail="`claude` is not on PATH")
PRESENT = AgentAvailability(available=True, detail="built in")


def executor(executor_id: str, mode: ExecutionMode, **agents: AgentAvailability) -> ExecutorInfo:
    return ExecutorInfo(executor_id=executor_id, mode=mode, agents=agents)


def test_an_executor_of_the_mode_that_can_run_it_is_enough() -> None:
    executors = [
        executor("a", LOCAL, claude=MISSING, command=PRESENT),
        executor("b", LOCAL, claude=PRESENT),
    ]
    assert check_agent("claude", LOCAL, executors).verdict is AgentVerdict.CAN


def test_executors_of_the_mode_that_cannot_run_it_refuse_it_and_say_what_they_can() -> None:
    executors = [
        executor("a", LOCAL, claude=MISSING, command=PRESENT),
        executor("d", DAGGER, claude=PRESENT),  # another mode: not asked
    ]
    check = check_agent("claude", LOCAL, executors)
    assert check.verdict is AgentVerdict.NONE_CAN
    assert check.refusal() == (
        "no live local executor can run agent 'claude' (checked 1: a can run command; "
        "claude: `claude` is not on PATH)"
    )
    assert check.executors() == [{"executor_id": "a", "mode": "local", "agents": ["command"]}]
    unknown = check_agent("gpt-17", LOCAL, executors).refusal()
    assert unknown.endswith("(checked 1: a can run command)")


def test_no_executor_of_the_mode_alive_is_a_warning_not_a_refusal() -> None:
    check = check_agent("claude", DAGGER, [executor("a", LOCAL, claude=MISSING)])
    assert check.verdict is AgentVerdict.NONE_ALIVE
    assert "no dagger executor is alive now" in check.warning()


def test_an_executor_that_announces_no_agents_is_not_held_against_a_run() -> None:
    # An older executor, from before agents were announced: it may run any.
    assert check_agent("claude", LOCAL, [executor("old", LOCAL)]).verdict is AgentVerdict.CAN
