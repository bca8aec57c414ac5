"""What the isolations on this machine (`WorktreeIsolation`, `FreshCloneIsolation`) share: a
folder for their checkouts, the commits' identity, time limits, the commands' environment."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from cc_taskrunner.environment import ExecEnvironment
from cc_taskrunner.identity import GitIdentity


class LocalIsolation:
    def __init__(
        self,
        root: Path,
        identity: GitIdentity,
        *,
        kill_grace_s: float = 3.0,
        git_timeout_s: float = 300.0,
        environment: ExecEnvironment | None = None,
    ) -> None:
        """`root`: where the checkouts go. `environment`: what commands get; the identity
        always applies on top (the commits are made by CommandCenter)."""
        self._root = root.expanduser()
        self._identity = identity
        self._kill_grace_s = kill_grace_s
        self._git_timeout_s = git_timeout_s
        base = environment if environment is not None else ExecEnvironment()
        self._environment = replace(base, fixed={**base.fixed, **identity.env()})
