"""What every fault scenario needs: a supervised stack on its own data directory, a plan in a
real repository with a bare remote, a `command` agent that leaves marks, and eyes on the bus.

The agent is a short Python script run from an argv list (never a shell). For each delivery it
writes `<marks>/<plan task id>.<attempt>.<pid>.started` before its work and `….done` after, so
a scenario can strike while an agent runs and tell afterwards which agents ran, how often, and
whether an orphan finished.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import stat
import sys
import threading
import urllib.parse
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import nats
from cc_bus.permissions import OPERATOR
from commandcenter.gitfixtures import GitSandbox, git, make_git_sandbox
from commandcenter.servers import free_port
from commandcenter.sse import SseMessage, follow
from commandcenter.stack import Stack, Supervised
from commandcenter_contracts import RUN_TERMINAL_TYPES, StatusEvent, subjects
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext

from tests.faults.checker import Checker, CheckSummary, decode_status, event_type, read_subject
from tests.support.polling import eventually
from tests.support.roots import pytest_roots

# Quick redelivery (ack_wait 5 s, heartbeat 1 s) so a crashed executor's task comes back soon.
FAULT_ENV = {
    "CC_ACK_WAIT_S": "5",
    "CC_HEARTBEAT_S": "1",
    "CC_RETRY_DELAY_S": "1",
    "CC_PLANNER_RETRY_DELAY_S": "0.5",
    "CC_SHUTDOWN_GRACE_S": "3",
}

AGENT_SCRIPT = """\
import json, os, pathlib, sys, time
task = json.loads(pathlib.Path(os.environ["CC_TASK_FILE"]).read_text())
marks, plans = pathlib.Path(sys.argv[1]), json.loads(sys.argv[2])
tid = task["plan_task_id"]
delivery = len(list(marks.glob(tid + ".*.started"))) + 1
name = "%s.%s.%d" % (tid, task["attempt"], os.getpid())
(marks / (name + ".started")).write_text(str(time.time()))
print("agent", name, "delivery", delivery, flush=True)
plan = plans.get("%s#%d" % (tid, delivery)) or plans.get(tid) or plans["*"]
agent = os.getpid()
if plan.get("detach") and os.fork():  # the agent idles; its child (a grandchild) works
    time.sleep(plan.get("after", 0))
    sys.exit(0)
if plan.get("detach"):
    (marks / (name + ".child")).write_text(str(os.getpid()))
deadline = time.time() + 60
while len(list(marks.glob(tid + ".*.started"))) < plan.get("await", 0) and time.time() < deadline:
    time.sleep(0.05)
time.sleep(plan.get("before", 0))
# An absolute path, the way coding agents address files (Claude Code's tools do).
out = pathlib.Path(os.environ["CC_WORKDIR"], "out-%s.txt" % tid)
try:
    out.write_text("%s written by agent %d\\n" % (task["task_id"], agent))
    wrote = "wrote " + str(out)
except OSError as exc:
    wrote = "could not write %s: %r" % (out, exc)
if not plan.get("detach"):
    time.sleep(plan.get("after", 0))
(marks / (name + ".done")).write_text(wrote)
"""


@dataclass(frozen=True)
class Behaviour:
    """What one agent does: wait until delivery `await_delivery` of its task has started,
    sleep `before` seconds, write `out-<task>.txt`, sleep `after` seconds, exit 0.

    `detach`: the agent forks, and its child (in the agent's process group, but a grandchild
    of the executor) does the waiting and the writing while the agent idles `after` seconds:
    the shape of an agent whose tool runs in a subprocess."""

    before: float = 0.0
    after: float = 0.0
    await_delivery: int = 0
    detach: bool = False

    def json(self) -> dict[str, float]:
        return {
            "before": self.before,
            "after": self.after,
            "await": self.await_delivery,
            "detach": float(self.detach),
        }


def agent_argv(
    marks: Path, sleep_s: float = 0.0, per_task: Mapping[str, float | Behaviour] | None = None
) -> list[str]:
    """The agent's argv. It works `sleep_s` seconds, then writes `out-<task>.txt` (saying which
    agent process wrote it) into its checkout. `per_task` overrides that for a task (`"1.1"`)
    or for one delivery of it (`"1.1#2"`): a number of seconds, or a `Behaviour`."""
    plans = {"*": Behaviour(before=sleep_s).json()}
    for key, value in (per_task or {}).items():
        behaviour = value if isinstance(value, Behaviour) else Behaviour(before=value)
        plans[key] = behaviour.json()
    return [sys.executable, "-c", AGENT_SCRIPT, str(marks), json.dumps(plans)]


def written_by(content: str) -> int:
    """The pid of the agent that wrote an `out-*.txt`."""
    return int(content.rsplit("agent", 1)[1].split()[0])


# --- plans --------------------------------------------------------------------------------------
def task_markdown(plan_task_id: str, *, slow_check_s: float = 0.0) -> str:
    checks = [f"- `test -s out-{plan_task_id}.txt`"]
    if slow_check_s:
        # A verification that takes a while: a window between `committed` and `pushed`.
        checks.append(f'- `{sys.executable} -c "import time; time.sleep({slow_check_s:g})"`')
    lines = "\n".join(checks)
    return f"""### Task {plan_task_id}: Write out-{plan_task_id}.txt

**Files:**
- Create: out-{plan_task_id}.txt

**Verification:**
{lines}

**Commit:** feat: out-{plan_task_id}
"""


def plan_markdown(batches: list[list[str]], *, slow_checks: dict[str, float] | None = None) -> str:
    slow = slow_checks or {}
    parts = ["# Fault-injection plan", ""]
    for number, tasks in enumerate(batches, start=1):
        parts += [f"## Batch {number}: Batch {number}", ""]
        parts += [task_markdown(t, slow_check_s=slow.get(t, 0.0)) for t in tasks]
    return "\n".join(parts)


def batch_of(batch: int, size: int) -> list[str]:
    return [f"{batch}.{i}" for i in range(1, size + 1)]


# --- agent marks --------------------------------------------------------------------------------
@dataclass(frozen=True)
class AgentMark:
    plan_task_id: str
    attempt: int
    pid: int
    done: bool
    started_ns: int
    done_ns: int
    """When it tried to write its file and finished (0: not yet, or never)."""
    wrote: str
    """What became of its write: `wrote <path>` or `could not write <path>: <error>`."""


def agent_marks(marks: Path) -> list[AgentMark]:
    """Every agent run so far, in the order they started."""
    found = []
    for started in marks.glob("*.started"):
        plan_task_id, attempt, pid = started.name.removesuffix(".started").rsplit(".", 2)
        done = started.with_name(started.name.replace(".started", ".done"))
        done_ns = done.stat().st_mtime_ns if done.exists() else 0
        found.append(
            AgentMark(
                plan_task_id,
                int(attempt),
                int(pid),
                done_ns > 0,
                started.stat().st_mtime_ns,
                done_ns,
                done.read_text() if done_ns else "",
            )
        )
    return sorted(found, key=lambda m: m.started_ns)


def process_alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            state = fh.read().decode(errors="replace").rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


# --- the stack ----------------------------------------------------------------------------------
@dataclass
class FaultStack:
    """A Stack under supervision (as `commandcenter up` runs it) plus a sandbox repository."""

    root: Path
    stack: Stack
    said: list[str]
    sandbox: GitSandbox
    marks: Path
    _supervisor: threading.Thread | None = None

    @classmethod
    def start(
        cls,
        root: Path,
        *,
        dagger_executors: int = 0,
        nats_cluster: int = 1,
        extra_env: dict[str, str] | None = None,
    ) -> FaultStack:
        """`nats_cluster`: that many nats-server nodes in one JetStream cluster (the services
        then get `CC_STREAM_REPLICAS`, at most 3, from the stack)."""
        said: list[str] = []
        stack = Stack(
            root / "stack",
            gateway_port=free_port(),
            # Not the default 4222: a port that is free while nats-server restarts must not be
            # taken meanwhile by another stack on this machine.
            nats_port=free_port(),
            local_executors=1,
            dagger_executors=dagger_executors,
            nats_cluster=nats_cluster,
            extra_env={
                **FAULT_ENV,
                **pytest_roots(root),
                "CC_CLAUDE_BIN": str(root / "no-such-claude"),
                **(extra_env or {}),
            },
            say=said.append,
        )
        marks = root / "marks"
        marks.mkdir(parents=True)
        sandbox = make_git_sandbox(root / "git")
        running = cls(root=root, stack=stack, said=said, sandbox=sandbox, marks=marks)
        try:
            stack.start(ready_timeout=90)
        except Exception:
            stack.stop()
            running.print_logs(only_tracebacks=False)
            raise
        running._supervisor = threading.Thread(target=stack.supervise, daemon=True)
        running._supervisor.start()
        return running

    def stop(self) -> None:
        self.stack.stop(grace=8.0)
        if self._supervisor is not None:
            self._supervisor.join(timeout=5)
        # Agents (and their children) orphaned by a killed executor belong to this test: end
        # them by their pid.
        pids = [m.pid for m in agent_marks(self.marks)]
        pids += [int(child.read_text() or 0) for child in self.marks.glob("*.child")]
        for pid in pids:
            if pid and process_alive(pid) and _is_our_agent(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)

    @property
    def nats_url(self) -> str:
        """As the operator (every subject): the checks look where no service may. Every node
        of a cluster, comma-separated (`nats_servers` splits it)."""
        assert self.stack.nats is not None
        return self.stack.nats.url_as(OPERATOR)

    @property
    def database_url(self) -> str:
        assert self.stack.postgres is not None
        return self.stack.postgres.url

    # --- services ---------------------------------------------------------------------------
    def service(self, name: str) -> Supervised:
        for sup in self.stack.services:
            if sup.spec.name == name:
                return sup
        raise KeyError(f"no service {name!r} in {[s.spec.name for s in self.stack.services]}")

    def pid(self, name: str) -> int:
        process = self.service(name).process
        assert process is not None and process.poll() is None, f"{name} is not running"
        return process.pid

    def pids(self) -> dict[str, int]:
        return {sup.spec.name: self.pid(sup.spec.name) for sup in self.stack.services}

    def kill(self, name: str, sig: signal.Signals = signal.SIGKILL) -> int:
        """Signal the service's process (it leads its own group: its children are spared, as
        they would be by an OOM kill or a crash) and return its pid."""
        pid = self.pid(name)
        os.kill(pid, sig)
        return pid

    # --- agents -----------------------------------------------------------------------------
    def agents_of(self, plan_task_id: str) -> list[AgentMark]:
        """Every agent run of the task so far, in the order they started."""
        return [m for m in agent_marks(self.marks) if m.plan_task_id == plan_task_id]

    async def agent_started(self, plan_task_id: str) -> AgentMark:
        """Until an agent of the task has started; the first one's mark."""
        mark: AgentMark = await eventually(
            lambda: next(iter(self.agents_of(plan_task_id)), None),
            within_s=60,
            what=f"task {plan_task_id}'s agent started",
        )
        return mark

    def assert_work_of_last_agent(self, commits: dict[str, str]) -> None:
        """Each task's pushed `out-<task>.txt` was written by the last agent that ran for it:
        no write of an earlier, abandoned delivery made it into the outcome."""
        for plan_task_id, sha in commits.items():
            content = git(self.sandbox.remote, "show", f"{sha}:out-{plan_task_id}.txt")
            last = self.agents_of(plan_task_id)[-1].pid
            assert written_by(content) == last, (
                f"task {plan_task_id}: its commit {sha[:12]} holds {content.strip()!r}, not the "
                f"work of its last agent ({last})"
            )

    async def wait_restarted(self, name: str, old_pid: int, *, within_s: float = 60) -> int:
        """Until the supervisor has started `name` again; its new pid."""

        def restarted() -> int | None:
            process = self.service(name).process
            if process is not None and process.pid != old_pid and process.poll() is None:
                return process.pid
            return None

        pid: int = await eventually(
            restarted, within_s=within_s, what=f"{name} restarted by the supervisor"
        )
        return pid

    @property
    def logs(self) -> Path:
        return self.stack.data_dir / "logs"

    def log_text(self, name: str) -> str:
        path = self.logs / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def print_logs(self, *, only_tracebacks: bool = True) -> None:
        for log in sorted(self.logs.glob("*.log")) if self.logs.exists() else []:
            text = log.read_text(errors="replace")
            if not only_tracebacks or "Traceback" in text:
                print(f"--- {log.name}\n{text[-6000:]}")

    # --- plans ------------------------------------------------------------------------------
    def commit_plan(self, text: str) -> tuple[Path, str]:
        """Write and commit the plan; returns its path and the base commit tasks start from."""
        plan = self.sandbox.repo / "MASTER_PLAN.md"
        plan.write_text(text)
        git(self.sandbox.repo, "add", "MASTER_PLAN.md")
        git(self.sandbox.repo, "commit", "-q", "-m", "the plan")
        git(self.sandbox.repo, "push", "-q", "origin", "main")
        return plan, git(self.sandbox.repo, "rev-parse", "HEAD").strip()

    def install_hook(self, name: str, script: str) -> None:
        """A git hook of the bare remote (`pre-receive`, `post-receive`): a Python script."""
        hook = self.sandbox.remote / "hooks" / name
        hook.write_text(f"#!{sys.executable}\n{script}")
        hook.chmod(hook.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)

    async def start_run(
        self,
        batches: list[list[str]],
        *,
        sleep_s: float = 0.0,
        per_task: Mapping[str, float | Behaviour] | None = None,
        slow_checks: dict[str, float] | None = None,
        **body: Any,
    ) -> tuple[str, str]:
        """Commit a plan of `batches` and start a run of it with the marking agent (see
        `agent_argv`); returns the run's id and the base commit its tasks start from."""
        plan, base = self.commit_plan(plan_markdown(batches, slow_checks=slow_checks))
        argv = agent_argv(self.marks, sleep_s, per_task)
        return await start_run(self.stack, plan, argv=argv, **body), base


def _is_our_agent(pid: int) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return b"CC_TASK_FILE" in cmdline


# --- HTTP ---------------------------------------------------------------------------------------
def auth_headers(stack: Stack) -> dict[str, str]:
    """The admin token the stack's gateway made at start, as a request header."""
    return {"Authorization": f"Bearer {stack.admin_token()}"}


async def start_run(stack: Stack, plan: Path, *, argv: list[str] | None = None, **body: Any) -> str:
    request: dict[str, Any] = {"plan_path": str(plan), "execution_mode": "local", **body}
    if argv is not None:
        request |= {"agent": "command", "agent_argv": argv}
    async with httpx.AsyncClient(
        base_url=stack.gateway_url, timeout=30, headers=auth_headers(stack)
    ) as client:
        response = await client.post("/api/v1/runs", json=request)
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


class Follower(threading.Thread):
    """A client following a run's events over SSE (`commandcenter.sse.follow`, the one
    `commandcenter run --follow` uses: it reconnects by itself with `Last-Event-ID`) in a
    thread, recording every message and every HTTP request it makes."""

    def __init__(self, gateway_url: str, headers: dict[str, str], run_id: str) -> None:
        super().__init__(daemon=True)
        self.received: list[SseMessage] = []
        self.requests: list[str | None] = []
        self.error: BaseException | None = None
        self._client = httpx.Client(
            base_url=gateway_url, headers=headers, event_hooks={"request": [self._on_request]}
        )
        self._url = f"/api/v1/runs/{run_id}/events"

    def _on_request(self, request: httpx.Request) -> None:
        self.requests.append(request.headers.get("Last-Event-ID"))

    async def saw_the_whole_run(self, js: JetStreamContext, run_id: str) -> list[int]:
        """Once the run is over: the client stopped by itself, with every status event of the
        run in JetStream exactly once, in stream order, ending with `run.succeeded`. The
        sequences it saw."""
        await asyncio.to_thread(self.join, 90)
        assert not self.is_alive(), "the client still follows a run that is over"
        assert self.error is None, repr(self.error)
        subject = subjects.status_subject(run_id)
        stream = [
            m
            for m in await read_subject(js, subjects.STREAM_STATUS, subject)
            if decode_status(m.data) is not None
        ]
        got = [int(m.id or -1) for m in self.received]
        assert len(got) == len(set(got)), f"duplicates: {got}"
        assert got == [m.seq for m in stream], f"the client saw {got}, the stream has {stream}"
        assert [m.event for m in self.received] == [
            event_type(e) for e in map(decode_status, (m.data for m in stream)) if e is not None
        ]
        assert self.received[-1].event == "run.succeeded"
        return got

    def run(self) -> None:
        try:
            with self._client:
                for message in follow(self._client, self._url, reconnect_for_s=60):
                    self.received.append(message)
        except BaseException as exc:
            self.error = exc


# --- the bus ------------------------------------------------------------------------------------
async def run_events(js: JetStreamContext, run_id: str) -> list[StatusEvent]:
    messages = await read_subject(js, subjects.STREAM_STATUS, subjects.status_subject(run_id))
    return [e for e in (decode_status(m.data) for m in messages) if e is not None]


async def wait_run_end(js: JetStreamContext, run_id: str, *, within_s: float) -> StatusEvent:
    """Until the run's terminal event is in JetStream (the source of truth, not the read model)."""

    async def ended() -> StatusEvent | None:
        for event in await run_events(js, run_id):
            if event_type(event) in RUN_TERMINAL_TYPES:
                return event
        return None

    end: StatusEvent = await eventually(
        ended, within_s=within_s, what=f"run {run_id} over", interval_s=0.3
    )
    return end


Action = Callable[[StatusEvent], object]
Match = Callable[[StatusEvent], bool]


class StatusWatch:
    """A plain (core NATS) subscription to every status event, to strike at the right moment:
    actions run inside the message callback, microseconds after the event was published."""

    def __init__(self) -> None:
        self.seen: list[StatusEvent] = []
        self._triggers: list[tuple[Match, Action]] = []
        self.fired: list[StatusEvent] = []
        self._nc: Client | None = None

    async def open(self, nats_url: str) -> StatusWatch:
        self._nc = await nats.connect(
            **nats_servers(nats_url),
            name="fault-watch",
            max_reconnect_attempts=-1,
            reconnect_time_wait=0.5,
        )
        await self._nc.subscribe(subjects.STATUS_ALL, cb=self._on_message)
        await self._nc.flush()
        return self

    async def close(self) -> None:
        if self._nc is not None:
            with contextlib.suppress(Exception):
                await self._nc.close()

    def once(self, match: Match, action: Action) -> None:
        """Run `action(event)` on the first event that `match`es."""
        self._triggers.append((match, action))

    async def _on_message(self, msg: Msg) -> None:
        event = decode_status(msg.data)
        if event is None:
            return
        self.seen.append(event)
        for trigger in list(self._triggers):
            match, action = trigger
            if match(event):
                self._triggers.remove(trigger)
                action(event)
                self.fired.append(event)

    def matching(self, match: Match) -> list[StatusEvent]:
        return [e for e in self.seen if match(e)]


class Tripwire:
    """Runs `action` once, inside the callback of the first message on `subject` (core NATS
    sees what is published to a stream's subjects, whether or not a consumer took it yet)."""

    def __init__(self, action: Callable[[], object]) -> None:
        self._action = action
        self.tripped = False
        self._nc: Client | None = None

    async def arm(self, nats_url: str, subject: str) -> Tripwire:
        self._nc = await nats.connect(
            **nats_servers(nats_url),
            name="fault-tripwire",
            max_reconnect_attempts=-1,
            reconnect_time_wait=0.5,
        )
        await self._nc.subscribe(subject, cb=self._on_message)
        await self._nc.flush()
        return self

    async def _on_message(self, _msg: Msg) -> None:
        if not self.tripped:
            self.tripped = True
            self._action()

    async def close(self) -> None:
        if self._nc is not None:
            with contextlib.suppress(Exception):
                await self._nc.close()


@dataclass
class Bus:
    """A NATS connection of the test's own, and the checker on it."""

    nc: Client
    js: JetStreamContext
    checker: Checker

    @classmethod
    async def open(cls, fs: FaultStack) -> Bus:
        nc, js = await open_js(fs.nats_url)
        return cls(nc, js, Checker(js, fs.database_url, fs.sandbox.remote))

    async def run_succeeded(self, run_id: str, base: str, *, within_s: float = 120) -> CheckSummary:
        """Until the run is over; it must have succeeded with every invariant of the checker
        holding. The checker's summary."""
        end = await wait_run_end(self.js, run_id, within_s=within_s)
        assert event_type(end) == "run.succeeded", end
        return await self.checker.check(run_id, base)


async def open_js(nats_url: str) -> tuple[Client, JetStreamContext]:
    nc = await nats.connect(
        **nats_servers(nats_url),
        name="fault-checker",
        max_reconnect_attempts=-1,
        reconnect_time_wait=0.5,
    )
    return nc, nc.jetstream()


def nats_servers(nats_url: str) -> dict[str, Any]:
    """`nats.connect` keywords for a URL or a cluster's comma-separated URLs: the servers as a
    list (it does not split a string itself), credentials as options. Credentials stay out of
    the URLs: the client adds the nodes a server announces (without credentials) to its pool,
    and a reconnect to one of those uses the options' credentials, not a URL's."""
    urls = [urllib.parse.urlsplit(part.strip()) for part in nats_url.split(",") if part.strip()]
    servers = [u._replace(netloc=u.netloc.rpartition("@")[2]).geturl() for u in urls]
    options: dict[str, Any] = {"servers": servers}
    if urls and urls[0].username:
        options |= {"user": urls[0].username, "password": urls[0].password or ""}
    return options


def of_type(kind: str, **fields: object) -> Match:
    """Match events of a type (`task.progress`) whose attributes equal `fields`."""

    def match(event: StatusEvent) -> bool:
        return event_type(event) == kind and all(
            getattr(event, k, None) == v for k, v in fields.items()
        )

    return match


def count(events: Iterable[StatusEvent], match: Match) -> int:
    return sum(1 for e in events if match(e))
