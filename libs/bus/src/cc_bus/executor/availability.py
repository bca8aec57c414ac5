"""Can a live executor of a mode run an agent? Judged from what the executors announce
(`ExecutorInfo` in the `cc_executors` bucket), before a run is accepted.

Three answers: some executor can (go ahead); none of the mode is alive (go ahead, with a
warning: executors may be scaled from zero by KEDA, or start later); executors of the mode are
alive and none can (refuse: every task would fail `AGENT_NOT_FOUND`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from commandcenter_contracts import ExecutionMode, ExecutorInfo


class AgentVerdict(StrEnum):
    CAN = "can"
    NONE_ALIVE = "none_alive"
    NONE_CAN = "none_can"


def runnable(info: ExecutorInfo) -> list[str]:
    """The agents `info` says it can run."""
    return sorted(name for name, agent in info.agents.items() if agent.available)


def _can_run(info: ExecutorInfo, agent: str) -> bool:
    # An executor that announces no agents at all (an older version) may run any: not refused.
    return not info.agents or agent in runnable(info)


@dataclass(frozen=True)
class AgentCheck:
    """The answer for one agent and mode, with the executors of that mode it looked at."""

    agent: str
    mode: ExecutionMode
    checked: tuple[ExecutorInfo, ...]

    @property
    def verdict(self) -> AgentVerdict:
        if not self.checked:
            return AgentVerdict.NONE_ALIVE
        if any(_can_run(info, self.agent) for info in self.checked):
            return AgentVerdict.CAN
        return AgentVerdict.NONE_CAN

    def why_not(self, info: ExecutorInfo) -> str:
        """What executor `info` can run, and why not this agent."""
        can = ", ".join(runnable(info)) or "no agent"
        unavailable = info.agents.get(self.agent)
        why = f"; {self.agent}: {unavailable.detail}" if unavailable and unavailable.detail else ""
        return f"{info.executor_id} can run {can}{why}"

    def refusal(self) -> str:
        """Why the run is refused (`NONE_CAN`): the agent, and every executor checked."""
        checked = "; ".join(self.why_not(info) for info in self.checked)
        return (
            f"no live {self.mode} executor can run agent {self.agent!r} (checked "
            f"{len(self.checked)}: {checked})"
        )

    def warning(self) -> str:
        """What a run accepted with no executor of its mode alive should know (`NONE_ALIVE`)."""
        return (
            f"no {self.mode} executor is alive now: the run waits until one starts, and whether "
            f"it can run agent {self.agent!r} was not checked"
        )

    def executors(self) -> list[dict[str, object]]:
        """The executors checked and what each can run (for an answer's body)."""
        return [
            {"executor_id": info.executor_id, "mode": str(info.mode), "agents": runnable(info)}
            for info in self.checked
        ]


def check_agent(agent: str, mode: ExecutionMode, executors: Iterable[ExecutorInfo]) -> AgentCheck:
    """Whether a live executor of `mode` among `executors` can run `agent`."""
    return AgentCheck(agent, mode, tuple(info for info in executors if info.mode == mode))
