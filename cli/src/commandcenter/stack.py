"""The whole system on one machine: nats-server, PostgreSQL and the four services as separate
processes, supervised the way an orchestrator would (a service that dies is restarted, with
backoff, and the restart is reported).

Nothing outlives the stack: it holds an exclusive lock on its data directory while it runs,
stops what an earlier stack on the directory left running before it starts, and every child
dies with it, even after a SIGKILL (see `lifeline` and `guard`).
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from cc_bus import redact_url

from commandcenter import leftovers
from commandcenter.credentials import admin_token_path, read_token
from commandcenter.discovery import export_line, look_for_stack
from commandcenter.leftovers import STATE_FILE, StackProcess
from commandcenter.lifeline import dying_with_this_process
from commandcenter.nats_users import NatsUsers
from commandcenter.servers import (
    NatsCluster,
    NatsServer,
    PostgresServer,
    ServerError,
    free_port,
    port_is_free,
)
from commandcenter.stack_lock import DataDirLock
from commandcenter.sturdy_output import say as print_line
from commandcenter.tools import claude_env

__all__ = ["STATE_FILE", "Stack", "running_gateway"]


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    module: str
    env: dict[str, str] = field(default_factory=dict)

    @property
    def metrics_url(self) -> str | None:
        port = self.env.get("CC_METRICS_PORT")
        return f"http://127.0.0.1:{port}/metrics" if port else None


@dataclass
class Supervised:
    spec: ServiceSpec
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    next_start_at: float = 0.0
    started_at: float = 0.0


def service_available(module: str) -> bool:
    return importlib.util.find_spec(f"{module}.__main__") is not None


class Stack:
    """Start with `start()`, stop with `stop()`; `supervise()` blocks until `stop()` is asked."""

    def __init__(
        self,
        data_dir: Path,
        *,
        gateway_port: int = 8001,
        nats_port: int = 0,
        local_executors: int = 1,
        dagger_executors: int = 1,
        nats_url: str | None = None,
        nats_cluster: int = 1,
        extra_env: dict[str, str] | None = None,
        say: Callable[[str], None] = print_line,
    ) -> None:
        if nats_url and nats_cluster > 1:
            raise ServerError("--nats-url and --nats-cluster exclude each other")
        if nats_cluster < 1:
            raise ServerError("--nats-cluster takes a number of nodes, at least 1")
        self.data_dir = data_dir.resolve()
        self.gateway_port = gateway_port
        self.nats_port = nats_port
        self.external_nats_url = nats_url
        """A NATS the stack uses and does not start (`up --nats-url`, credentials included)."""
        self.nats_cluster = nats_cluster
        self.local_executors = local_executors
        self.dagger_executors = dagger_executors
        self.extra_env = extra_env or {}
        self.say = say
        self.nats: NatsServer | NatsCluster | None = None
        self.nats_users: NatsUsers | None = None
        self.postgres: PostgresServer | None = None
        self.services: list[Supervised] = []
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._data_dir_lock = DataDirLock(self.data_dir)
        self._guard: subprocess.Popen[bytes] | None = None

    @property
    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{self.gateway_port}"

    @property
    def metrics_urls(self) -> dict[str, str]:
        """Where each service answers `GET /metrics`: the gateway on its API port, every other
        service on a port of its own (`CC_METRICS_PORT`, kept across its restarts)."""
        urls = {"gateway": f"{self.gateway_url}/metrics"}
        for sup in self.services:
            url = sup.spec.metrics_url
            if url is not None:
                urls[sup.spec.name] = url
        return urls

    # --- start ----------------------------------------------------------------------------
    def start(self, *, ready_timeout: float = 60.0) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        (self.data_dir / "logs").mkdir(exist_ok=True)
        self._claim_data_dir()
        nats_port = self.nats_port or self._previous_nats_port() or 4222
        self._write_state()  # from here a second `up` on this directory can name us
        if not port_is_free(self.gateway_port):
            raise ServerError(
                f"port {self.gateway_port} is in use by another program, or by a stack on "
                f"another data directory (pass --port to use another)"
            )
        if not port_is_free(nats_port):
            nats_port = 0
        nats_env = self._start_nats(nats_port)
        self.postgres = PostgresServer(self.data_dir / "postgres").start()
        self._write_state()
        self.say(f"postgresql    {self.postgres.url}")
        common = {
            **nats_env,
            "CC_DATABASE_URL": self.postgres.url,
            "CC_GATEWAY_HOST": "127.0.0.1",
            "CC_GATEWAY_PORT": str(self.gateway_port),
            "CC_WORKTREE_ROOT": str(self.data_dir / "worktrees"),
            "CC_WORK_ROOT": str(self.data_dir / "work"),
            "CC_PLANNER_WORK_DIR": str(self.data_dir / "planner"),
            "CC_LOG_FORMAT": "json",
            **_skills_dir_env(),
            **claude_env(),
            **self.extra_env,
        }
        specs = [ServiceSpec("gateway", "gateway"), ServiceSpec("planner", "planner")]
        specs += [
            ServiceSpec(f"executor-local-{i + 1}", "executor_local")
            for i in range(self.local_executors)
        ]
        if service_available("executor_dagger") and self.dagger_executors > 0:
            dagger_env = dagger_in_flight({**os.environ, **self.extra_env}, self.dagger_executors)
            specs += [
                ServiceSpec(f"executor-dagger-{i + 1}", "executor_dagger", dagger_env)
                for i in range(self.dagger_executors)
            ]
        for spec in specs:
            # The gateway writes the first admin token there (0600); nothing else sees it.
            own = self._gateway_env() if spec.module == "gateway" else _metrics_env()
            if self.nats_users is not None:
                own |= self.nats_users.env_for(spec.module)  # its own NATS user, no other
            sup = Supervised(
                ServiceSpec(spec.name, spec.module, {**common, **own, **spec.env}),
                self.data_dir / "logs" / f"{spec.name}.log",
            )
            self._spawn(sup)
            self.services.append(sup)
        self._write_state()
        self._wait_ready(ready_timeout)
        self.say(f"gateway       {self.gateway_url}   (logs in {self.data_dir / 'logs'})")
        self.say(self._auth_line())
        self.say(
            "metrics       "
            + "\n              ".join(f"{url}  {name}" for name, url in self.metrics_urls.items())
        )

    def _start_nats(self, port: int) -> dict[str, str]:
        """Start the stack's NATS (one node, or a loopback cluster), or take the one it was
        given; the services' NATS variables."""
        if self.external_nats_url:
            # Its users are the operator's business: the URL's credentials (or CC_NATS_USER and
            # CC_NATS_PASSWORD_FILE in our environment) reach every service as they are.
            self.say(f"nats          {redact_url(self.external_nats_url)}  (not started by us)")
            return {"CC_NATS_URL": self.external_nats_url}
        # One NATS user per service, anonymous refused (cc_bus.permissions).
        self.nats_users = NatsUsers.ensure(self.data_dir)
        store = self.data_dir / "nats"
        env: dict[str, str] = {}
        clustered = self.nats_cluster > 1
        other = store / ("jetstream" if clustered else "n1")
        if other.exists():
            was, now = ("one node", "cluster") if clustered else ("cluster", "single node")
            self.say(
                f"note: {other} holds the streams of this directory's {was}; this {now} keeps "
                "a store of its own, so runs started before are not on this bus (the read "
                "model still lists them)"
            )
        if clustered:
            cluster = NatsCluster(
                store,
                size=self.nats_cluster,
                users=self.nats_users.passwords(),
                route_password=self.nats_users.route_password(),
                ports={"n1": port},
            )
            self.nats = cluster.start()
            # Replicated unless asked otherwise: what a cluster on one machine is for.
            if "CC_STREAM_REPLICAS" not in {**os.environ, **self.extra_env}:
                env["CC_STREAM_REPLICAS"] = str(min(3, self.nats_cluster))
            monitors = cluster.monitor_urls
            shown = f"{self.nats_cluster}-node cluster {cluster.url}"
        else:
            self.nats = NatsServer(store, port=port, users=self.nats_users.passwords()).start()
            monitors = [f"http://127.0.0.1:{self.nats.monitor_port}"]
            shown = self.nats.url
        self._write_state()
        self.say(f"nats-server   {shown}  (JetStream store {store})")
        return env | {"CC_NATS_URL": self.nats.url, "CC_NATS_MONITOR_URL": ",".join(monitors)}

    @property
    def nats_nodes(self) -> list[NatsServer]:
        """The nats-server processes the stack started (none when it was given a NATS)."""
        if isinstance(self.nats, NatsCluster):
            return list(self.nats.nodes)
        return [self.nats] if self.nats is not None else []

    @property
    def admin_token_path(self) -> Path:
        return admin_token_path(self.data_dir)

    def admin_token(self) -> str:
        """The admin token the gateway made at its first start (the CLI sends it by itself)."""
        token = read_token(self.admin_token_path)
        if token is None:
            raise ServerError(f"no admin token in {self.admin_token_path}")
        return token

    @property
    def auth_off(self) -> bool:
        return {**os.environ, **self.extra_env}.get("CC_AUTH", "").lower() == "off"

    def _gateway_env(self) -> dict[str, str]:
        env = {"CC_BOOTSTRAP_TOKEN_FILE": str(self.admin_token_path)}
        if "CC_ALLOWED_ROOTS" not in {**os.environ, **self.extra_env}:
            # Plans and repositories the gateway may read: the directory `up` was started in,
            # and where `demo` puts its sample (inside it, unless --data-dir is elsewhere).
            roots = (Path.cwd(), self.data_dir.resolve() / "demo")
            env["CC_ALLOWED_ROOTS"] = os.pathsep.join(str(root) for root in roots)
        return env

    def _auth_line(self) -> str:
        if self.auth_off:
            return (
                "WARNING       CC_AUTH=off: the API takes no token. Anyone who can reach "
                f"{self.gateway_url} can start, cancel and replay runs"
            )
        return (
            f"admin token   {self.admin_token_path}  (mode 0600; the commandcenter command "
            "sends it by itself; `commandcenter token create` makes narrower ones)"
        )

    def _previous_nats_port(self) -> int | None:
        with contextlib.suppress(OSError, ValueError, KeyError):
            state = json.loads((self.data_dir / STATE_FILE).read_text())
            return int(state["nats_port"])
        return None

    def _claim_data_dir(self) -> None:
        """Lock the data directory for the life of this stack, stop what an earlier stack on
        it left running, and start the guard that stops ours if we die without doing so.
        Two stacks on one store (one JetStream store, one PostgreSQL) would corrupt it."""
        if not self._data_dir_lock.acquire():
            state = leftovers.read_state(self.data_dir)
            owner = state.get("pid")
            if isinstance(owner, int) and leftovers.pid_alive(owner):
                url = state.get("gateway_url", "")
                raise ServerError(
                    f"a stack is already running on {self.data_dir} (pid {owner}, gateway "
                    f"{url}). Use it ({export_line(url, self.data_dir)}), or stop it first (Ctrl-C "
                    f"where it runs, or kill -INT {owner}); a second stack needs a --data-dir "
                    f"of its own"
                )
            # Its `up` has gone: its guard is stopping what it left, or a stack is starting.
            self.say(f"waiting for the lock on {self.data_dir} (the previous stack is stopping)")
            if not self._data_dir_lock.acquire(timeout=30):
                raise ServerError(
                    f"{self.data_dir / self._data_dir_lock.path.name} is locked by another "
                    f"process (see `fuser -v {self._data_dir_lock.path}`)"
                )
        stale = leftovers.find(self.data_dir)
        if stale:
            self.say(
                f"a stack on {self.data_dir} ended without stopping "
                f"{', '.join(map(str, stale))}: stopping them first"
            )
            leftovers.stop(stale, say=self.say)
        guard_log = (self.data_dir / "logs" / "guard.log").open("ab")
        self._guard = subprocess.Popen(  # noqa: S603 - fixed argv
            [sys.executable, "-m", "commandcenter.guard", str(self.data_dir)],
            stdout=guard_log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # it must outlive us: that is its job
        )
        guard_log.close()

    def _processes(self) -> list[StackProcess]:
        """What the stack started and runs now, as `stack.json` records it for the guard."""
        named: list[tuple[str, int]] = []
        for node in self.nats_nodes:
            if node.process is not None:
                named.append((f"nats-server {node.name}".strip(), node.process.pid))
        server = leftovers.postmaster(self.data_dir)
        if self.postgres is not None and server is not None:
            named.append((server.name, server.pid))
        named += [(s.spec.name, s.process.pid) for s in self.services if s.process is not None]
        found = (StackProcess.of(name, pid) for name, pid in named)
        return [p for p in found if p is not None]

    def _spawn(self, sup: Supervised) -> None:
        env = {**os.environ, **sup.spec.env}
        log = sup.log_path.open("ab")
        sup.process = subprocess.Popen(  # noqa: S603 - fixed argv
            [sys.executable, "-m", sup.spec.module],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            # Its own session (Ctrl-C reaches `up`, which stops services in order), and it
            # gets SIGTERM if `up` dies without doing so.
            **dying_with_this_process(signal.SIGTERM),
        )
        log.close()
        sup.started_at = time.monotonic()

    def _new_metrics_port_if_taken(self, sup: Supervised) -> bool:
        """Whether `sup` stopped because its `/metrics` port was taken, and got a new one then.
        A port found free is not reserved: another process's outgoing connection can draw it
        from the same ephemeral range before the service listens on it."""
        own_port = "CC_METRICS_PORT" in sup.spec.env
        if not own_port or METRICS_PORT_TAKEN not in _tail(sup.log_path, 3):
            return False
        sup.spec = replace(sup.spec, env={**sup.spec.env, **_metrics_env()})
        return True

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            for sup in self.services:
                if sup.process is not None and sup.process.poll() is not None:
                    if sup.restarts < PORT_RETRIES and self._new_metrics_port_if_taken(sup):
                        sup.restarts += 1
                        self._spawn(sup)
                        self._write_state()  # its new pid and metrics address
                        continue
                    tail = _tail(sup.log_path)
                    raise ServerError(f"{sup.spec.name} exited during start-up:\n{tail}")
            try:
                with urllib.request.urlopen(f"{self.gateway_url}/ready", timeout=2) as r:
                    if r.status == 200:
                        return
            except Exception as exc:  # not up yet
                last = str(exc)
            time.sleep(0.2)
        raise ServerError(f"the gateway was not ready after {timeout:.0f}s: {last}")

    def _write_state(self) -> None:
        state: dict[str, object] = {
            "pid": os.getpid(),
            "gateway_url": self.gateway_url,
            "guard_pid": self._guard.pid if self._guard is not None else None,
            "processes": [p.as_json() for p in self._processes()],
        }
        if self.nats is not None:
            state |= {"nats_url": self.nats.url, "nats_port": self.nats.port}
        if self.postgres is not None:
            state["database_url"] = self.postgres.url
        if self.services:
            state["metrics_urls"] = self.metrics_urls
        leftovers.write_state(self.data_dir, state)

    # --- supervise --------------------------------------------------------------------------
    def check_once(self) -> None:
        """Restart every service that died, with exponential backoff (1 s doubling to 30 s)."""
        now = time.monotonic()
        with self._lock:
            if self._stopping.is_set():
                return
            for sup in self.services:
                if sup.process is None or sup.process.poll() is None:
                    continue
                if sup.next_start_at == 0.0:
                    code = sup.process.returncode
                    # A service that ran a while before dying starts again from a short delay.
                    if now - sup.started_at > 60:
                        sup.restarts = 0
                    delay = min(30.0, 2.0**sup.restarts)
                    sup.next_start_at = now + delay
                    self.say(
                        f"supervisor: {sup.spec.name} exited with code {code}; "
                        f"restarting in {delay:.0f}s (see {sup.log_path})"
                    )
                elif now >= sup.next_start_at:
                    sup.restarts += 1
                    sup.next_start_at = 0.0
                    self._new_metrics_port_if_taken(sup)
                    self._spawn(sup)
                    self._write_state()
                    self.say(f"supervisor: {sup.spec.name} restarted (restart #{sup.restarts})")

    def supervise(self) -> None:
        while not self._stopping.wait(0.5):
            self.check_once()

    # --- stop -------------------------------------------------------------------------------
    def stop(self, grace: float = 8.0) -> None:
        with self._lock:
            self._stopping.set()
            running = [s for s in self.services if s.process and s.process.poll() is None]
            for sup in running:
                with contextlib.suppress(ProcessLookupError):
                    assert sup.process is not None
                    sup.process.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + grace
            for sup in running:
                assert sup.process is not None
                try:
                    sup.process.wait(max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    self.say(f"{sup.spec.name} did not stop within {grace:.0f}s: killing it")
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(sup.process.pid, signal.SIGKILL)
                    sup.process.wait()
            if self.nats is not None:
                self.nats.stop()
            if self.postgres is not None:
                self.postgres.stop()
            if not self._data_dir_lock.held:
                return  # refused: the directory (and its stack.json) belong to another stack
            with contextlib.suppress(OSError):
                (self.data_dir / STATE_FILE).unlink()
            self._data_dir_lock.release()
            if self._guard is not None:  # it finds nothing left, and ends
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self._guard.wait(10)


def dagger_in_flight(env: Mapping[str, str], replicas: int) -> dict[str, str]:
    """`CC_DAGGER_MAX_IN_FLIGHT` for the dagger replicas: the durable's max_ack_pending is
    shared by every replica, so by default it is replicas * slots; one the user set is kept."""
    if "CC_DAGGER_MAX_IN_FLIGHT" in env:
        return {}
    slots = env.get("CC_DAGGER_SLOTS", "4")
    if not slots.isdigit():
        return {}  # the executor says what is wrong with it
    return {"CC_DAGGER_MAX_IN_FLIGHT": str(int(slots) * replicas)}


def _skills_dir_env() -> dict[str, str]:
    """Point the executors at the checkout's `skills/` (timeouts, recoverable codes), unless
    the user chose a folder."""
    if os.environ.get("CC_SKILLS_DIR"):
        return {}
    skills = Path(__file__).resolve().parents[3] / "skills"
    return {"CC_SKILLS_DIR": str(skills)} if skills.is_dir() else {}


PORT_RETRIES = 3
"""Starts of a service whose `/metrics` port was taken meanwhile, each on a new port, before
`start` gives up."""
METRICS_PORT_TAKEN = "CC_METRICS_PORT: cannot listen on"
"""How a service says that its `/metrics` port was taken (`cc_observe.metrics`)."""


def _metrics_env() -> dict[str, str]:
    """A free port for a service's `/metrics` (the gateway serves it on its API port)."""
    return {"CC_METRICS_PORT": str(free_port()), "CC_METRICS_HOST": "127.0.0.1"}


def _tail(path: Path, lines: int = 20) -> str:
    with contextlib.suppress(OSError):
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    return ""


def running_gateway(data_dir: Path) -> str | None:
    """The URL of the gateway of a stack already running on `data_dir`, if any."""
    return look_for_stack(data_dir).url
