"""The gateway's settings: one frozen object, read once from `CC_…` environment variables
(with the shared reader, `commandcenter_contracts.Env`; a bad value is a `SettingsError`)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from cc_bus import NatsAuth, run_retention_days, stream_replicas
from cc_taskrunner.agents import agent_names
from commandcenter_contracts import Env, SettingsError

from gateway.confinement import DEFAULT_REMOTES, Confinement
from gateway.plans.reading import PlanSource


@dataclass(frozen=True, kw_only=True)
class Settings:
    database_url: str
    """`CC_DATABASE_URL` (required): the PostgreSQL read model, any URI asyncpg accepts, e.g.
    `postgresql://postgres:@/commandcenter?host=/path/to/socketdir`."""
    nats_url: str = "nats://127.0.0.1:4222"
    """`CC_NATS_URL`: the NATS server (JetStream enabled)."""
    nats_auth: NatsAuth = field(default_factory=NatsAuth)
    """`CC_NATS_USER`, `CC_NATS_PASSWORD_FILE`: the NATS user this service connects as."""
    stream_replicas: int = 1
    """`CC_STREAM_REPLICAS`: replicas of every stream and bucket (`cc_bus.stream_replicas`)."""
    run_retention_days: float = 30.0
    """`CC_RUN_RETENTION_DAYS`: a run ended longer ago than this can no longer be replayed or
    get a new budget (409): the planner forgets it a day later (`planner.retention`). 0: any
    run can, as long as the planner keeps every run (the same variable, 0, there)."""
    nats_monitor_urls: tuple[str, ...] = ()
    """`CC_NATS_MONITOR_URL`: NATS monitoring endpoints (`http://host:8222`, comma-separated),
    where `/ready` reads the JetStream meta leader; unset, it shows as unknown."""
    host: str = "127.0.0.1"
    """`CC_GATEWAY_HOST`: the interface uvicorn binds."""
    port: int = 8001
    """`CC_GATEWAY_PORT`."""
    plan_root: Path = Path(".")
    """`CC_PLAN_ROOT`: what a relative `plan_path` is resolved against (default: the cwd)."""
    default_agent: str = "claude"
    """`CC_DEFAULT_AGENT`: the agent of a run that names none (`claude`, `command`,
    `plan-follower`)."""
    sse_keepalive_s: float = 15.0
    """`CC_GATEWAY_SSE_KEEPALIVE_S`: a comment line on an idle event stream this often, so
    proxies and clients do not drop it."""
    startup_timeout_s: float = 60.0
    """`CC_GATEWAY_STARTUP_TIMEOUT_S`: how long start-up waits for NATS and PostgreSQL."""
    db_pool_max: int = 10
    """`CC_GATEWAY_DB_POOL_MAX`: connections in the asyncpg pool."""
    request_timeout_s: float = 10.0
    """`CC_GATEWAY_REQUEST_TIMEOUT_S`: per publish / per query bound in request handlers."""
    auth: bool = True
    """`CC_AUTH`: `on` (the default, always) or `off`: every API call then goes unchecked, with
    a warning at start. Tokens are `gateway.auth`'s."""
    bootstrap_token_file: Path | None = None
    """`CC_BOOTSTRAP_TOKEN_FILE`: where the first admin token is written (mode 0600) when no
    live admin token exists; `commandcenter up` sets `<data-dir>/admin.token`."""
    sse_max_per_token: int = 20
    """`CC_SSE_MAX_PER_TOKEN`: event streams one token may hold open at once (then 429)."""
    sse_max_behind: int = 10_000
    """`CC_SSE_MAX_BEHIND`: events a run's event-stream client may fall behind the newest
    before its stream ends (it reconnects with `Last-Event-ID`), instead of holding memory."""
    allowed_roots: tuple[Path, ...] = field(default_factory=lambda: (Path.cwd(),))
    """`CC_ALLOWED_ROOTS` (`os.pathsep`-separated folders): plan files and repositories must
    really be inside one (symlinks resolved); default: the gateway's working directory
    (`commandcenter up` passes the directory it was started in)."""
    allowed_remotes: tuple[str, ...] = DEFAULT_REMOTES
    """`CC_ALLOWED_REMOTES` (space- or comma-separated `fnmatch` patterns): the repository and
    push-remote URLs a run may name (dagger mode clones them, executors push to them)."""
    plan_max_bytes: int = 1 << 20
    """`CC_PLAN_MAX_BYTES`: the largest plan the gateway reads (a file, or a request's text)."""
    max_body_bytes: int = 2 << 20
    """`CC_GATEWAY_MAX_BODY_BYTES`: the largest request body; a larger one is a 413."""

    @property
    def confinement(self) -> Confinement:
        return Confinement.of(self.allowed_roots, self.allowed_remotes)

    @property
    def plans(self) -> PlanSource:
        return PlanSource(self.plan_root, self.confinement, self.plan_max_bytes)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        read = Env(env)  # os.environ when None
        database_url = read.get("CC_DATABASE_URL")
        if database_url is None:
            raise SettingsError("CC_DATABASE_URL is required (a PostgreSQL URI)")
        return cls(
            database_url=database_url,
            nats_url=read.text("CC_NATS_URL", cls.nats_url),
            nats_auth=NatsAuth.from_env(read),
            stream_replicas=stream_replicas(read),
            run_retention_days=run_retention_days(read),
            nats_monitor_urls=tuple(
                url.strip()
                for url in read.text("CC_NATS_MONITOR_URL", "").split(",")
                if url.strip()
            ),
            host=read.text("CC_GATEWAY_HOST", cls.host),
            port=read.whole("CC_GATEWAY_PORT", cls.port, low=0, high=65535),
            plan_root=read.path("CC_PLAN_ROOT", Path.cwd()).resolve(),
            default_agent=read.choice("CC_DEFAULT_AGENT", cls.default_agent, agent_names()),
            sse_keepalive_s=read.number(
                "CC_GATEWAY_SSE_KEEPALIVE_S", cls.sse_keepalive_s, low=0.05
            ),
            startup_timeout_s=read.number(
                "CC_GATEWAY_STARTUP_TIMEOUT_S", cls.startup_timeout_s, low=0.0
            ),
            db_pool_max=read.whole("CC_GATEWAY_DB_POOL_MAX", cls.db_pool_max, low=2),
            request_timeout_s=read.number(
                "CC_GATEWAY_REQUEST_TIMEOUT_S", cls.request_timeout_s, low=0.1
            ),
            auth=read.choice("CC_AUTH", "on", ("on", "off")) == "on",
            bootstrap_token_file=read.optional_path("CC_BOOTSTRAP_TOKEN_FILE"),
            sse_max_per_token=read.whole("CC_SSE_MAX_PER_TOKEN", cls.sse_max_per_token, low=1),
            sse_max_behind=read.whole("CC_SSE_MAX_BEHIND", cls.sse_max_behind, low=1),
            allowed_roots=_roots(read.get("CC_ALLOWED_ROOTS")),
            allowed_remotes=_patterns(read.get("CC_ALLOWED_REMOTES")),
            plan_max_bytes=read.whole("CC_PLAN_MAX_BYTES", cls.plan_max_bytes, low=1),
            max_body_bytes=read.whole("CC_GATEWAY_MAX_BODY_BYTES", cls.max_body_bytes, low=1024),
        )


def _roots(raw: str | None) -> tuple[Path, ...]:
    if raw is None:
        return (Path.cwd(),)
    roots = tuple(Path(part).expanduser() for part in raw.split(os.pathsep) if part.strip())
    for root in roots:
        if not root.is_absolute():
            raise SettingsError(f"CC_ALLOWED_ROOTS: {str(root)!r} is not an absolute path")
    if not roots:
        raise SettingsError("CC_ALLOWED_ROOTS is empty: name at least one folder")
    return roots


def _patterns(raw: str | None) -> tuple[str, ...]:
    if raw is None:
        return DEFAULT_REMOTES
    return tuple(part for part in raw.replace(",", " ").split() if part)
