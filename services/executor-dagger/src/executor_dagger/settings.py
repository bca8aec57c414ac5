"""The dagger executor's settings: one frozen object, read once from `CC_…` variables.

Credentials are NOT settings: the agent's API keys and `CC_GIT_TOKEN` stay in the process
environment and are named here only (`CC_AGENT_CREDENTIALS`); the Dagger backend hands them to
containers as secret references, the engine-less backend to the one kind of command that
needs each. So they never appear in this object, its repr or a log line.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, cast, get_args

from cc_bus import NatsAuth, stream_replicas
from cc_bus.executor import DeliverySettings
from cc_observe.metrics import MetricsSettings
from cc_taskrunner import RunnerSettings
from cc_taskrunner.agents.claude.credentials import PASSTHROUGH_VARIABLES
from commandcenter_contracts import Env

Backend = Literal["auto", "dagger", "engineless"]
BACKENDS: tuple[str, ...] = get_args(Backend)

DEFAULT_IMAGE = "python:3.12-bookworm"
"""Debian with git and Python: enough for `plan-follower` and Python `command` agents. For the
`claude` agent use an image that also has the Claude Code CLI (CC_DAGGER_IMAGE)."""
DEFAULT_WORK_ROOT = Path("~/.cache/commandcenter/work")
DEFAULT_AGENT_CREDENTIALS = PASSTHROUGH_VARIABLES
"""Claude Code's credentials (API key, auth token, OAuth token) and its base URL and model."""


@dataclass(frozen=True, kw_only=True)
class Settings:
    nats_url: str = "nats://127.0.0.1:4222"
    """`CC_NATS_URL`."""
    nats_auth: NatsAuth = field(default_factory=NatsAuth)
    """`CC_NATS_USER`, `CC_NATS_PASSWORD_FILE`: the NATS user this service connects as."""
    stream_replicas: int = 1
    """`CC_STREAM_REPLICAS`: replicas of every stream and bucket (`cc_bus.stream_replicas`)."""
    backend: Backend = "auto"
    """`CC_DAGGER_BACKEND`: `dagger` (a container per task on a Dagger engine; no engine: exit
    with an error), `engineless` (a fresh clone per task in `CC_WORK_ROOT`, scrubbed
    environment), `auto` (dagger when an engine answers, else engineless; logged at start)."""
    slots: int = 4
    """`CC_DAGGER_SLOTS`: tasks this replica runs at once (it never holds more messages)."""
    max_in_flight: int = 4
    """`CC_DAGGER_MAX_IN_FLIGHT`: the consumer's `max_ack_pending`, i.e. tasks out at once
    across ALL replicas (default: `CC_DAGGER_SLOTS`; with N replicas set N x slots). Applied
    to the existing durable at start (JetStream would silently keep the old value)."""
    image: str = DEFAULT_IMAGE
    """`CC_DAGGER_IMAGE`: the task container's image; needs git and the agent's program."""
    grace_s: float = 30.0
    """`CC_DAGGER_GRACE_S`: on SIGTERM, how long running tasks may go on; then they are
    stopped and handed back (nak) for another replica."""
    connect_timeout_s: float = 60.0
    """`CC_DAGGER_CONNECT_TIMEOUT_S`: limit for reaching a Dagger engine at start."""
    work_root: Path = field(default_factory=lambda: DEFAULT_WORK_ROOT.expanduser())
    """`CC_WORK_ROOT`: engine-less backend: where the per-task clones live (and are deleted)."""
    integration_turns: bool = True
    """`CC_DAGGER_INTEGRATION_TURNS`: `on` (replicas take turns landing tasks on a run's
    integration branch, `cc_bus.executor.IntegrationTurns`) or `off` (they race, and the
    compare-and-set decides: every loser fetches, combines and pushes again)."""
    agent_credentials: tuple[str, ...] = DEFAULT_AGENT_CREDENTIALS
    """`CC_AGENT_CREDENTIALS`: names (comma-separated) of environment variables an agent gets:
    as Dagger secrets, or passed through the engine-less backend's scrubbed environment."""
    git_username: str = "x-access-token"
    """`CC_GIT_USERNAME`: the user name git offers with `CC_GIT_TOKEN` (over https)."""
    delivery: DeliverySettings = field(default_factory=DeliverySettings)
    """Taking and giving back task messages, as every executor does: `CC_ACK_WAIT_S`,
    `CC_HEARTBEAT_S`, `CC_MAX_DELIVER`, `CC_RETRY_DELAY_S`, retries (`cc_bus.executor`)."""
    runner: RunnerSettings = field(default_factory=RunnerSettings)
    """The task runner's part: `CC_EXECUTOR_ID`, `CC_CLAUDE_BIN` (in the image, for the Dagger
    backend), `CC_CLAUDE_ARGS`, `CC_DEFAULT_TIMEOUT_S`, `CC_GIT_AUTHOR_NAME`,
    `CC_GIT_AUTHOR_EMAIL`, `CC_VERIFY_TIMEOUT_S`, `CC_GIT_TIMEOUT_S`, `CC_KILL_GRACE_S`,
    `CC_SKILLS_DIR` (see `cc_taskrunner.RunnerSettings`)."""
    metrics: MetricsSettings = field(default_factory=MetricsSettings)
    """`CC_METRICS_PORT`, `CC_METRICS_HOST`: where `/metrics` is served (off by default)."""

    @property
    def executor_id(self) -> str:
        return self.runner.executor_id

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = Env(environ)
        slots = env.whole("CC_DAGGER_SLOTS", cls.slots, positive=True)
        return cls(
            nats_url=env.text("CC_NATS_URL", cls.nats_url),
            nats_auth=NatsAuth.from_env(env),
            stream_replicas=stream_replicas(env),
            backend=cast(Backend, env.choice("CC_DAGGER_BACKEND", cls.backend, BACKENDS)),
            slots=slots,
            max_in_flight=env.whole("CC_DAGGER_MAX_IN_FLIGHT", slots, positive=True),
            image=env.text("CC_DAGGER_IMAGE", DEFAULT_IMAGE),
            grace_s=env.number("CC_DAGGER_GRACE_S", cls.grace_s, positive=True),
            connect_timeout_s=env.number(
                "CC_DAGGER_CONNECT_TIMEOUT_S", cls.connect_timeout_s, positive=True
            ),
            work_root=env.path("CC_WORK_ROOT", DEFAULT_WORK_ROOT),
            integration_turns=env.choice("CC_DAGGER_INTEGRATION_TURNS", "on", ("on", "off"))
            == "on",
            agent_credentials=env.names("CC_AGENT_CREDENTIALS", DEFAULT_AGENT_CREDENTIALS),
            git_username=env.text("CC_GIT_USERNAME", cls.git_username),
            delivery=DeliverySettings.from_env(env),
            runner=RunnerSettings.from_env(environ),
            metrics=MetricsSettings.from_env(env),
        )
