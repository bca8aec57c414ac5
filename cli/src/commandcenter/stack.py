"""The whole system on one machine: nats-server, PostgreSQL and the four services as separate
processes, supervised the way an orchestrator would (a service that dies is restarted, with
backoff, and the restart is reported).
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
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from commandcenter.servers import (
    NatsServer,
    PostgresServer,
    ServerError,
    free_port,
    port_is_free,
)
from commandcenter.tools import claude_env

STATE_FILE = "stack.json"


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
        extra_env: dict[str, str] | None = None,
        say: Callable[[str], None] = print,
    ) -> None:
        self.data_dir = data_dir.resolve()
        self.gateway_port = gateway_port
        self.nats_port = nats_port
        self.local_executors = local_executors
        self.dagger_executors = dagger_executors
        self.extra_env = extra_env or {}
        self.say = say
        self.nats: NatsServer | None = None
        self.postgres: PostgresServer | None = None
        self.services: list[Supervised] = []
        self._stopping = threading.Event()
        self._lock = threading.Lock()

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
        if not port_is_free(self.gateway_port):
            raise ServerError(
                f"port {self.gateway_port} is in use: is another stack running? "
                f"(pass --port to use another)"
            )
        nats_port = self.nats_port or self._previous_nats_port() or 4222
        if not port_is_free(nats_port):
            nats_port = 0
        self.nats = NatsServer(self.data_dir / "nats", port=nats_port).start()
        self.say(f"nats-server   {self.nats.url}  (JetStream store {self.data_dir / 'nats'})")
        self.postgres = PostgresServer(self.data_dir / "postgres").start()
        self.say(f"postgresql    {self.postgres.url}")
        common = {
            "CC_NATS_URL": self.nats.url,
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
            # The durable's max_ack_pending is shared by every replica: size it for all.
            slots = int(self.extra_env.get("CC_DAGGER_SLOTS", "4"))
            dagger_env = {"CC_DAGGER_MAX_IN_FLIGHT": str(slots * self.dagger_executors)}
            specs += [
                ServiceSpec(f"executor-dagger-{i + 1}", "executor_dagger", dagger_env)
                for i in range(self.dagger_executors)
            ]
        for spec in specs:
            own = {} if spec.module == "gateway" else _metrics_env()
            sup = Supervised(
                ServiceSpec(spec.name, spec.module, {**common, **own, **spec.env}),
                self.data_dir / "logs" / f"{spec.name}.log",
            )
            self._spawn(sup)
            self.services.append(sup)
        self._write_state()
        self._wait_ready(ready_timeout)
        self.say(f"gateway       {self.gateway_url}   (logs in {self.data_dir / 'logs'})")
        self.say(
            "metrics       "
            + "\n              ".join(f"{url}  {name}" for name, url in self.metrics_urls.items())
        )

    def _previous_nats_port(self) -> int | None:
        with contextlib.suppress(OSError, ValueError, KeyError):
            state = json.loads((self.data_dir / STATE_FILE).read_text())
            return int(state["nats_port"])
        return None

    def _spawn(self, sup: Supervised) -> None:
        env = {**os.environ, **sup.spec.env}
        log = sup.log_path.open("ab")
        sup.process = subprocess.Popen(  # noqa: S603 - fixed argv
            [sys.executable, "-m", sup.spec.module],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # Ctrl-C reaches `up`, which stops services in order
        )
        log.close()
        sup.started_at = time.monotonic()

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            for sup in self.services:
                if sup.process is not None and sup.process.poll() is not None:
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
        assert self.nats is not None and self.postgres is not None
        state = {
            "pid": os.getpid(),
            "gateway_url": self.gateway_url,
            "nats_url": self.nats.url,
            "nats_port": self.nats.port,
            "database_url": self.postgres.url,
            "metrics_urls": self.metrics_urls,
        }
        (self.data_dir / STATE_FILE).write_text(json.dumps(state, indent=2))

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
                    self._spawn(sup)
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
            with contextlib.suppress(OSError):
                (self.data_dir / STATE_FILE).unlink()


def _skills_dir_env() -> dict[str, str]:
    """Point the executors at the checkout's `skills/` (timeouts, recoverable codes), unless
    the user chose a folder."""
    if os.environ.get("CC_SKILLS_DIR"):
        return {}
    skills = Path(__file__).resolve().parents[3] / "skills"
    return {"CC_SKILLS_DIR": str(skills)} if skills.is_dir() else {}


def _metrics_env() -> dict[str, str]:
    """A free port for a service's `/metrics` (the gateway serves it on its API port)."""
    return {"CC_METRICS_PORT": str(free_port()), "CC_METRICS_HOST": "127.0.0.1"}


def _tail(path: Path, lines: int = 20) -> str:
    with contextlib.suppress(OSError):
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    return ""


def running_gateway(data_dir: Path) -> str | None:
    """The URL of the gateway of a stack already running on `data_dir`, if any."""
    with contextlib.suppress(OSError, ValueError, KeyError):
        state = json.loads((data_dir / STATE_FILE).read_text())
        url = str(state["gateway_url"])
        with urllib.request.urlopen(f"{url}/health", timeout=2) as r:
            if r.status == 200:
                return url
    return None
