"""The local executor's settings: one frozen object, read once from `CC_…` variables."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from cc_bus.executor import RetryPolicy
from cc_taskrunner import RunnerSettings
from cc_taskrunner.settings import positive_float

DEFAULT_WORKTREE_ROOT = Path("~/.cache/commandcenter/worktrees")


@dataclass(frozen=True, kw_only=True)
class Settings:
    nats_url: str = "nats://127.0.0.1:4222"
    """`CC_NATS_URL`."""
    worktree_root: Path = field(default_factory=lambda: DEFAULT_WORKTREE_ROOT.expanduser())
    """`CC_WORKTREE_ROOT`: where task worktrees live (`<root>/<run8>/<task slug>`)."""
    ack_wait_s: float = 60.0
    """`CC_ACK_WAIT_S`: a task not acked (nor heartbeated) this long goes to another executor."""
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
    shutdown_grace_s: float = 10.0
    """`CC_SHUTDOWN_GRACE_S`: on SIGTERM, time for the running task to stop and hand back."""
    runner: RunnerSettings = field(default_factory=RunnerSettings)
    """The task runner's part: `CC_EXECUTOR_ID`, `CC_CLAUDE_BIN`, `CC_CLAUDE_ARGS`,
    `CC_DEFAULT_TIMEOUT_S`, `CC_GIT_AUTHOR_NAME`, `CC_GIT_AUTHOR_EMAIL`, `CC_VERIFY_TIMEOUT_S`,
    `CC_GIT_TIMEOUT_S`, `CC_KILL_GRACE_S`, `CC_SKILLS_DIR` (see `cc_taskrunner.RunnerSettings`)."""

    @property
    def executor_id(self) -> str:
        return self.runner.executor_id

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        ack_wait_s = positive_float(env, "CC_ACK_WAIT_S", 60.0)
        heartbeat_s = positive_float(env, "CC_HEARTBEAT_S", ack_wait_s / 4)
        if heartbeat_s >= ack_wait_s:
            # A heartbeat slower than ack_wait lets a running task be handed to someone else.
            raise ValueError(
                f"CC_HEARTBEAT_S ({heartbeat_s:g}) must be shorter than CC_ACK_WAIT_S "
                f"({ack_wait_s:g})"
            )
        root = env.get("CC_WORKTREE_ROOT")
        max_deliver = int(positive_float(env, "CC_MAX_DELIVER", 5))
        retry = RetryPolicy.from_env(env)
        retry.check_max_deliver(max_deliver)
        return cls(
            nats_url=env.get("CC_NATS_URL") or "nats://127.0.0.1:4222",
            worktree_root=Path(root).expanduser() if root else DEFAULT_WORKTREE_ROOT.expanduser(),
            ack_wait_s=ack_wait_s,
            heartbeat_s=heartbeat_s,
            max_deliver=max_deliver,
            retry_delay_s=positive_float(env, "CC_RETRY_DELAY_S", 5.0),
            retry=retry,
            shutdown_grace_s=positive_float(env, "CC_SHUTDOWN_GRACE_S", 10.0),
            runner=RunnerSettings.from_env(env),
        )
