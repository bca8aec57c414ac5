"""The workspace both git isolations hand out: a checkout on the task's branch."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True, kw_only=True)
class GitWorkspace:
    path: Path
    branch: str
    base_commit: str
    remote: str | None
    """Remote name or URL to push to, as usable from `path`; None: nothing to push to."""
    remove: Callable[[], None] = field(repr=False)
    """Blocking removal of the checkout (run in a thread by `cleanup`)."""

    async def cleanup(self) -> None:
        await asyncio.to_thread(self.remove)
