"""The local executor's settings: one frozen object, read once from `CC_…` variables."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from cc_bus import NatsAuth, stream_replicas
from cc_bus.executor import DeliverySettings
from cc_observe.metrics import MetricsSettings
from cc_taskrunner import RunnerSettings
from commandcenter_contracts import Env

DEFAULT_WORKTREE_ROOT = Path("~/.cache/commandcenter/worktrees")


@dataclass(frozen=True, kw_only=True)
class Settings:
    nats_url: str = "nats://127.0.0.1:4222"
    """`CC_NATS_URL`."""
    nats_auth: NatsAuth = field(default_factory=NatsAuth)
    """`CC_NATS_USER`, `CC_NATS_PASSWORD_FILE`: the NATS user this service connects as."""
    stream_replicas: int = 1
    """`CC_STREAM_REPLICAS`: replicas of every stream and bucket (`cc_bus.stream_replicas`)."""
    worktree_root: Path = field(default_factory=lambda: DEFAULT_WORKTREE_ROOT.expanduser())
    """`CC_WORKTREE_ROOT`: where task worktrees live (`<root>/<run8>/<task slug>`)."""
    delivery: DeliverySettings = field(default_factory=DeliverySettings)
    """Taking and giving back task messages, as every executor does: `CC_ACK_WAIT_S`,
    `CC_HEARTBEAT_S`, `CC_MAX_DELIVER`, `CC_RETRY_DELAY_S`, retries (`cc_bus.executor`)."""
    shutdown_grace_s: float = 10.0
    """`CC_SHUTDOWN_GRACE_S`: on SIGTERM, time for the running task to stop and hand back."""
    runner: RunnerSettings = field(default_factory=RunnerSettings)
    """The task runner's part (see `cc_taskrunner.RunnerSettings`)."""
    metrics: MetricsSettings = field(default_factory=MetricsSettings)
    """`CC_METRICS_PORT`, `CC_METRICS_HOST`: where `/metrics` is served (off by default)."""

    @property
    def executor_id(self) -> str:
        return self.runner.executor_id

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = Env(environ)
        return cls(
            nats_url=env.text("CC_NATS_URL", cls.nats_url),
            nats_auth=NatsAuth.from_env(env),
            stream_replicas=stream_replicas(env),
            worktree_root=env.path("CC_WORKTREE_ROOT", DEFAULT_WORKTREE_ROOT),
            delivery=DeliverySettings.from_env(env),
            shutdown_grace_s=env.number("CC_SHUTDOWN_GRACE_S", cls.shutdown_grace_s, positive=True),
            runner=RunnerSettings.from_env(environ),
            metrics=MetricsSettings.from_env(env),
        )
