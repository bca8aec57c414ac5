"""What the planner sees of a forge: a pull request and the three calls that land a branch."""

from __future__ import annotations

from typing import Protocol

import msgspec


class PullRequest(msgspec.Struct, frozen=True, kw_only=True):
    number: int
    url: str
    """The page a person opens (GitHub's `html_url`)."""
    state: str
    """`draft`, `open`, `merged` or `closed`."""
    node_id: str = ""
    """The forge's global id (GitHub's GraphQL needs it to mark a draft ready)."""


class Forge(Protocol):
    name: str

    async def open_or_update(self, *, head: str, base: str, title: str, body: str) -> PullRequest:
        """The open pull request from `head` into `base`, created as a draft if there is none,
        its title and body brought up to date if they differ. Calling it twice opens one."""
        ...

    async def mark_ready(self, pr: PullRequest) -> PullRequest:
        """A draft made ready for review; a pull request that is not a draft comes back as is."""
        ...

    async def aclose(self) -> None: ...
