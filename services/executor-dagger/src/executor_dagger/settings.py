"""The dagger executor's settings: one frozen object, read once from `CC_…` variables.

Credentials are NOT settings: the agent's API keys and `CC_GIT_TOKEN` stay in the process
environment and are named here only (`CC_AGENT_CREDENTIALS`); the Dagger backend hands them to
containers as secret references, the engine-less backend to the one kind of command that
needs each. So they never appear in this object, its repr or a log line.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, cast, get_args

from cc_bus.executor import RetryPolicy
from cc_taskrunner import RunnerSettings
from cc_taskrunner.agents.claude.credentials import PASSTHROUGH_VARIABLES
from cc_taskrunner.settings import positive_float, positive_int

Backend = Literal["auto", "dagger", "engineless"]
BACKENDS: tuple[str, ...] = get_args(Backend)

DEFAULT_IMAGE = "python:3.12-bookworm"
"""Debian with git and Python: enough for `plan-follower` and Python `command` agents. For the
`claude` agent use an image that also has the Claude Code CLI (CC_DAGGER_IMAGE)."""
DEFAULT_WORK_ROOT = Path("~/.cache/commandcenter/work")
DEFAULT_AGENT_CREDENTIALS = PASSTHROUGH_VARIABLES
"""Claude Code's credentials (API key, auth token, OAuth token) and its base URL and model."""
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True, kw_only=True)
class Settings:
    nats_url: str = "nats://127.0.0.1:4222"
    """`CC_NATS_URL`."""
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
    agent_credentials: tuple[str, ...] = DEFAULT_AGENT_CREDENTIALS
    """`CC_AGENT_CREDENTIALS`: names (comma-separated) of environment variables an agent gets:
    as Dagger secrets, or passed through the engine-less backend's scrubbed environment."""
    git_username: str = "x-access-token"
    """`CC_GIT_USERNAME`: the user name git offers with `CC_GIT_TOKEN` (over https)."""
    ack_wait_s: float = 60.0
    """`CC_ACK_WAIT_S`: a task not acked (nor heartbeated) this long goes to another replica."""
    heartbeat_s: float = 15.0
    """`CC_HEARTBEAT_S`: in-progress acks while a task runs (default: a quarter of ack_wait)."""
    max_deliver: int = 5
    """`CC_MAX_DELIVER`: deliveries of one task message before JetStream gives up on it; must
    be larger than `CC_MAX_ATTEMPTS` (crash redeliveries count as attempts too)."""
    retry_delay_s: float = 5.0
    """`CC_RETRY_DELAY_S`: redelivery delay when an outcome could not be published."""
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    """Retries of failed attempts: `CC_MAX_ATTEMPTS` (3), `CC_RETRY_BASE_S` (2),
    `CC_RETRY_CAP_S` (60) (see `cc_bus.executor.RetryPolicy`)."""
    runner: RunnerSettings = field(default_factory=RunnerSettings)
    """The task runner's part: `CC_EXECUTOR_ID`, `CC_CLAUDE_BIN` (in the image, for the Dagger
    backend), `CC_CLAUDE_ARGS`, `CC_DEFAULT_TIMEOUT_S`, `CC_GIT_AUTHOR_NAME`,
    `CC_GIT_AUTHOR_EMAIL`, `CC_VERIFY_TIMEOUT_S`, `CC_GIT_TIMEOUT_S`, `CC_KILL_GRACE_S`,
    `CC_SKILLS_DIR` (see `cc_taskrunner.RunnerSettings`)."""

    @property
    def executor_id(self) -> str:
        return self.runner.executor_id

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        backend = (env.get("CC_DAGGER_BACKEND") or "auto").strip().lower()
        if backend not in BACKENDS:
            raise ValueError(
                f"CC_DAGGER_BACKEND must be one of {', '.join(BACKENDS)}, got {backend!r}"
            )
        slots = positive_int(env, "CC_DAGGER_SLOTS", 4)
        ack_wait_s = positive_float(env, "CC_ACK_WAIT_S", 60.0)
        heartbeat_s = positive_float(env, "CC_HEARTBEAT_S", ack_wait_s / 4)
        if heartbeat_s >= ack_wait_s:
            # A heartbeat slower than ack_wait lets a running task be handed to someone else.
            raise ValueError(
                f"CC_HEARTBEAT_S ({heartbeat_s:g}) must be shorter than CC_ACK_WAIT_S "
                f"({ack_wait_s:g})"
            )
        root = env.get("CC_WORK_ROOT")
        max_deliver = positive_int(env, "CC_MAX_DELIVER", 5)
        retry = RetryPolicy.from_env(env)
        retry.check_max_deliver(max_deliver)
        return cls(
            nats_url=env.get("CC_NATS_URL") or "nats://127.0.0.1:4222",
            backend=cast(Backend, backend),
            slots=slots,
            max_in_flight=positive_int(env, "CC_DAGGER_MAX_IN_FLIGHT", slots),
            image=(env.get("CC_DAGGER_IMAGE") or "").strip() or DEFAULT_IMAGE,
            grace_s=positive_float(env, "CC_DAGGER_GRACE_S", 30.0),
            connect_timeout_s=positive_float(env, "CC_DAGGER_CONNECT_TIMEOUT_S", 60.0),
            work_root=Path(root).expanduser() if root else DEFAULT_WORK_ROOT.expanduser(),
            agent_credentials=_names(env, "CC_AGENT_CREDENTIALS", DEFAULT_AGENT_CREDENTIALS),
            git_username=env.get("CC_GIT_USERNAME") or "x-access-token",
            ack_wait_s=ack_wait_s,
            heartbeat_s=heartbeat_s,
            max_deliver=max_deliver,
            retry_delay_s=positive_float(env, "CC_RETRY_DELAY_S", 5.0),
            retry=retry,
            runner=RunnerSettings.from_env(env),
        )


def _names(env: Mapping[str, str], name: str, default: tuple[str, ...]) -> tuple[str, ...]:
    raw = env.get(name)
    if raw is None:
        return default
    names = tuple(part.strip() for part in raw.replace(",", " ").split() if part.strip())
    for item in names:
        if not _NAME.match(item):
            raise ValueError(f"{name}: {item!r} is not an environment variable name")
    return names
