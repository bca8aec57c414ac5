"""The gateway's settings: one frozen object, read once from `CC_…` environment variables."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from cc_taskrunner.agents import agent_names

N = TypeVar("N", int, float)


class SettingsError(ValueError):
    """An environment variable is missing or has a value the gateway cannot use."""


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
        env = os.environ if env is None else env
        database_url = env.get("CC_DATABASE_URL", "").strip()
        if not database_url:
            raise SettingsError("CC_DATABASE_URL is required (a PostgreSQL URI)")
        default_agent = env.get("CC_DEFAULT_AGENT", "claude").strip() or "claude"
        if default_agent not in agent_names():
            raise SettingsError(
                f"CC_DEFAULT_AGENT={default_agent!r} is not one of {', '.join(agent_names())}"
            )
        return cls(
            database_url=database_url,
            nats_url=env.get("CC_NATS_URL", "").strip() or cls.nats_url,
            host=env.get("CC_GATEWAY_HOST", "").strip() or cls.host,
            port=_number(env, "CC_GATEWAY_PORT", cls.port, int, low=0, high=65535),
            plan_root=Path(env.get("CC_PLAN_ROOT", "").strip() or Path.cwd()).resolve(),
            default_agent=default_agent,
            sse_keepalive_s=_number(
                env, "CC_GATEWAY_SSE_KEEPALIVE_S", cls.sse_keepalive_s, float, low=0.05
            ),
            startup_timeout_s=_number(
                env, "CC_GATEWAY_STARTUP_TIMEOUT_S", cls.startup_timeout_s, float, low=0.0
            ),
            db_pool_max=_number(env, "CC_GATEWAY_DB_POOL_MAX", cls.db_pool_max, int, low=2),
            request_timeout_s=_number(
                env, "CC_GATEWAY_REQUEST_TIMEOUT_S", cls.request_timeout_s, float, low=0.1
            ),
        )


def _number(
    env: Mapping[str, str],
    name: str,
    default: N,
    kind: type[N],
    *,
    low: float,
    high: float | None = None,
) -> N:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = kind(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not a {kind.__name__}") from None
    if value < low or (high is not None and value > high):
        raise SettingsError(f"{name}={raw!r} is out of range")
    return value
