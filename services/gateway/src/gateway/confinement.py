"""Where a request may point the gateway: paths inside `CC_ALLOWED_ROOTS`, remotes matching
`CC_ALLOWED_REMOTES`.

A path is judged by where it really is (`os.path.realpath`: `..` and every symlink resolved),
and judged before anything else is done with it, so a refused path's answer says nothing about
what is there: not whether it exists, not a byte of it. Plain logic, no HTTP: a refusal is a
`NotPermitted` naming the request field and the setting.
"""

from __future__ import annotations

import fnmatch
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from gateway.domain_errors import InvalidRequest, NotPermitted

ROOTS_SETTING = "CC_ALLOWED_ROOTS"
REMOTES_SETTING = "CC_ALLOWED_REMOTES"
DEFAULT_REMOTES = ("https://*",)

# `scheme://…` or scp-like `user@host:path`: a repository reached over a network, not a path.
URL = re.compile(r"^(?:[a-zA-Z][a-zA-Z0-9+.-]*://|[\w.-]+@[\w.-]+:)")
# A configured remote's name (`origin`), as `git remote add` takes it: no path, no URL.
_REMOTE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")


def real(path: Path | str) -> Path:
    """Where `path` really is: absolute, `..` and symlinks resolved (missing parts kept)."""
    return Path(os.path.realpath(path))


@dataclass(frozen=True)
class Confinement:
    roots: tuple[Path, ...]
    """Real paths: a path is allowed when its real path is one of them or under one."""
    remotes: tuple[str, ...] = DEFAULT_REMOTES
    """`fnmatch` patterns of repository URLs (dagger mode, push remotes)."""

    @classmethod
    def of(
        cls, roots: Iterable[Path | str], remotes: Iterable[str] = DEFAULT_REMOTES
    ) -> Confinement:
        return cls(roots=tuple(real(root) for root in roots), remotes=tuple(remotes))

    def allows(self, path: Path) -> bool:
        """Whether the real path of `path` is inside a root."""
        where = real(path)
        return any(where == root or where.is_relative_to(root) for root in self.roots)

    def path(self, field: str, given: str, path: Path) -> Path:
        """The real path of `path` (what the request calls `given`), if inside a root."""
        try:
            where = real(path)
        except (OSError, ValueError) as exc:  # a symlink loop, an unreadable folder
            raise self._outside(field, given) from exc
        if not self.allows(where):
            raise self._outside(field, given)
        return where

    def remote(self, field: str, url: str) -> str:
        """A repository URL the patterns allow."""
        if not any(fnmatch.fnmatchcase(url, pattern) for pattern in self.remotes):
            raise NotPermitted(
                field,
                f"`{field}` {url!r} matches none of {REMOTES_SETTING} "
                f"({' '.join(self.remotes) or 'none'}); ask the operator to allow it",
                setting=REMOTES_SETTING,
            )
        return url

    def push_remote(self, remote: str) -> str:
        """A push remote: a configured remote's name, an allowed URL, or an absolute path in a
        root (git would read a relative one from the task's checkout, wherever that is)."""
        if URL.match(remote):
            return self.remote("remote", remote)
        if _REMOTE_NAME.match(remote):
            return remote
        if not Path(remote).is_absolute():
            raise InvalidRequest(
                "remote", "`remote` is a remote's name, a URL or an absolute path to a repository"
            )
        self.path("remote", remote, Path(remote))
        return remote

    def _outside(self, field: str, given: str) -> NotPermitted:
        # Only what the client sent and the setting: never what is (or is not) at that path.
        roots = os.pathsep.join(str(root) for root in self.roots)
        return NotPermitted(
            field,
            f"`{field}` {given[:300]!r} is outside {ROOTS_SETTING} ({roots}): the gateway only "
            f"reads and runs in those folders",
            setting=ROOTS_SETTING,
        )
