"""The planner's settings: one frozen object, read once from `CC_…` environment variables."""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from cc_bus import NatsAuth, run_retention_days, stream_replicas
from cc_forge import ForgeSettings
from cc_observe.metrics import MetricsSettings
from commandcenter_contracts import Env, SettingsError

from planner.pipeline import DEFAULT_IN_FLIGHT
from planner.retention import GRACE_S

__all__ = ["Settings", "SettingsError"]


@dataclass(frozen=True, kw_only=True)
class Settings:
    nats_url: str = "nats://127.0.0.1:4222"
    """`CC_NATS_URL`: the NATS server (JetStream enabled)."""
    nats_auth: NatsAuth = field(default_factory=NatsAuth)
    """`CC_NATS_USER`, `CC_NATS_PASSWORD_FILE`: the NATS user this service connects as."""
    stream_replicas: int = 1
    """`CC_STREAM_REPLICAS`: replicas of every stream and bucket (`cc_bus.stream_replicas`)."""
    default_timeout_s: float = 0.0
    """`CC_PLANNER_TASK_TIMEOUT_S`: the time limit stamped on tasks of runs that ask for none.
    0 (the default) stamps none: the executor then applies the task's skill (`default_ms`,
    capped by `max_ms`), else its own `CC_DEFAULT_TIMEOUT_S`."""
    retry_delay_s: float = 1.0
    """`CC_PLANNER_RETRY_DELAY_S`: first redelivery delay of a message whose handling failed
    (NATS or KV unavailable); doubles per delivery up to 30 s."""
    max_deliveries: int = 200
    """`CC_PLANNER_MAX_DELIVERIES`: a status event still failing after this many deliveries
    goes to the dead letters (error code INFRA) instead of blocking every run behind it."""
    publish_timeout_s: float = 10.0
    """`CC_PLANNER_PUBLISH_TIMEOUT_S`: how long one JetStream publish may wait for its ack."""
    publish_in_flight: int = DEFAULT_IN_FLIGHT
    """`CC_PLANNER_PUBLISH_IN_FLIGHT`: publishes awaiting their acks at once (a batch's
    `task.queued` and dispatches overlap; `planner.pipeline`); 1 publishes one at a time."""
    retention_days: float = 30.0
    """`CC_RUN_RETENTION_DAYS`: a run ended longer ago than this, plus a day, is forgotten
    (`planner.retention`); 0 keeps every run. The gateway reads the same variable."""
    sweep_interval_s: float = 3600.0
    """`CC_PLANNER_SWEEP_S`: how often the planner looks for runs to forget."""
    client_name: str = ""
    """`CC_PLANNER_NAME`: the NATS connection name (default `planner@<host>:<pid>`)."""
    work_dir: Path = field(
        default_factory=lambda: Path("~/.cache/commandcenter/planner").expanduser()
    )
    """`CC_PLANNER_WORK_DIR`: scratch git repositories of the lander (land `merge`)."""
    land_attempts: int = 10
    """`CC_PLANNER_LAND_ATTEMPTS`: deliveries of a landing request that failed in a way worth
    trying again (the forge's rate limit or 5xx) before the run fails LAND_FAILED."""
    git_author_name: str = "CommandCenter"
    """`CC_GIT_AUTHOR_NAME`: author of a merge commit made when landing on a moved base."""
    git_author_email: str = "commandcenter@localhost"
    """`CC_GIT_AUTHOR_EMAIL`."""
    forge: ForgeSettings = field(default_factory=ForgeSettings)
    """`CC_FORGE`, `CC_FORGE_REPO`, `CC_GITHUB_TOKEN` / `GITHUB_TOKEN`, `CC_GITHUB_API_URL`:
    where land `pr` opens its pull request (see `cc_forge.ForgeSettings`)."""
    metrics: MetricsSettings = field(default_factory=MetricsSettings)
    """`CC_METRICS_PORT`, `CC_METRICS_HOST`: where `/metrics` is served (off by default)."""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = Env(environ)
        return cls(
            nats_url=env.text("CC_NATS_URL", cls.nats_url),
            nats_auth=NatsAuth.from_env(env),
            stream_replicas=stream_replicas(env),
            default_timeout_s=env.number(
                "CC_PLANNER_TASK_TIMEOUT_S", cls.default_timeout_s, low=0.0
            ),
            retry_delay_s=env.number("CC_PLANNER_RETRY_DELAY_S", cls.retry_delay_s, low=0.01),
            max_deliveries=env.whole("CC_PLANNER_MAX_DELIVERIES", cls.max_deliveries, low=2),
            publish_timeout_s=env.number(
                "CC_PLANNER_PUBLISH_TIMEOUT_S", cls.publish_timeout_s, low=0.1
            ),
            publish_in_flight=env.whole(
                "CC_PLANNER_PUBLISH_IN_FLIGHT", cls.publish_in_flight, low=1
            ),
            retention_days=run_retention_days(env),
            sweep_interval_s=env.number("CC_PLANNER_SWEEP_S", cls.sweep_interval_s, low=1.0),
            client_name=env.text(
                "CC_PLANNER_NAME", f"planner@{socket.gethostname()}:{os.getpid()}"
            ),
            work_dir=env.path("CC_PLANNER_WORK_DIR", "~/.cache/commandcenter/planner"),
            land_attempts=env.whole("CC_PLANNER_LAND_ATTEMPTS", cls.land_attempts, low=1),
            git_author_name=env.text("CC_GIT_AUTHOR_NAME", cls.git_author_name),
            git_author_email=env.text("CC_GIT_AUTHOR_EMAIL", cls.git_author_email),
            forge=ForgeSettings.from_env(environ),
            metrics=MetricsSettings.from_env(env),
        )

    @property
    def keep_runs_s(self) -> float | None:
        """How long after its end a run is kept; None: forever."""
        return self.retention_days * 86_400 + GRACE_S if self.retention_days else None

    def redelivery_delay(self, num_delivered: int) -> float:
        return float(min(30.0, self.retry_delay_s * 2 ** max(0, min(num_delivered - 1, 10))))
