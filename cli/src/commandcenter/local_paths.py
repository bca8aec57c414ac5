"""Paths the user types, as the gateway gets them: a relative path is resolved once, against
the command's working directory (the gateway would resolve it against its own root), and a
missing one is reported as typed. An absolute path goes as it is: it may name a file on the
gateway's machine."""

from __future__ import annotations

import re
from pathlib import Path

from commandcenter.gateway_client import CliError

# As the gateway tells a remote from a path (gateway.confinement.URL): scheme:// or user@host:
_URL = re.compile(r"^(?:[a-zA-Z][a-zA-Z0-9+.-]*://|[\w.-]+@[\w.-]+:)")


def plan_path(typed: str) -> str:
    """The plan's path for the gateway."""
    path = Path(typed).expanduser()
    if path.is_absolute():
        return str(path)
    if not path.exists():
        raise CliError(f"plan file not found: {typed}")
    return str(path.resolve())


def repo_path(typed: str | None) -> str | None:
    """`--repo` for the gateway: a URL as it is, a relative path resolved here."""
    if typed is None or _URL.match(typed):
        return typed
    path = Path(typed).expanduser()
    if path.is_absolute():
        return str(path)
    if not path.is_dir():
        raise CliError(f"--repo {typed}: no such directory")
    return str(path.resolve())
