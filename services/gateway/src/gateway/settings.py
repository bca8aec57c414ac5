"""The gateway's settings: one frozen object, read once from `CC_…` environment variables
(with the shared reader, `commandcenter_contracts.Env`; a bad value is a `SettingsError`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from cc_taskrunner.agents import agent_names
from commandcenter_contracts import Env, SettingsError


@dataclass(frozen=True, kw_only=True)
class Settings:
    database_url: str
    """`CC_DATABASE_URL` (required): the PostgreSQL read model, any URI asyncpg accepts, e.g.
    `postgresql://postgres:@/commandcenter?host=/path/to/socketdir`."""
    nats_url: str = "nats://127.0.0.1:4222"
    """`CC_NATS_URL`: the NATS server (JetStream enabled)."""
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

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        read = Env(env)  # os.environ when None
        database_url = read.get("CC_DATABASE_URL")
        if database_url is None:
            raise SettingsError("CC_DATABASE_URL is required (a PostgreSQL URI)")
        return cls(
            database_url=database_url,
            nats_url=read.text("CC_NATS_URL", cls.nats_url),
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
        )
