"""Before a run (or a replay with another agent) is accepted: can a live executor of its mode
run its agent? Judged from the `cc_executors` bucket (`cc_bus.executor.check_agent`).

Executors of the mode alive and none able: an `AgentUnavailable` (409) naming the agent and
what each executor checked can run. None of the mode alive: accepted, with a warning —
executors may be scaled from zero (KEDA) or start later. A bucket that cannot be read counts as
none alive: this check never blocks a run on its own failure.
"""

from __future__ import annotations

from cc_bus.executor import AgentVerdict, check_agent
from commandcenter_contracts import ExecutionMode
from nats.aio.client import Client
from nats.js import JetStreamContext

from gateway.domain_errors import AgentUnavailable
from gateway.health import checks


async def require_runnable(
    nc: Client, js: JetStreamContext, agent: str, mode: ExecutionMode
) -> list[str]:
    """The warnings of a request for `agent` in `mode`; `AgentUnavailable` when it is refused."""
    check = check_agent(agent, mode, await checks.executors(nc, js))
    match check.verdict:
        case AgentVerdict.NONE_CAN:
            raise AgentUnavailable(check.refusal(), agent=agent, executors=check.executors())
        case AgentVerdict.NONE_ALIVE:
            return [check.warning()]
    return []
