"""Finding a running stack: the `stack.json` that `up` keeps in its data directory names the
gateway, and the stack counts as running when that gateway answers. What was looked at is
kept, so that a command that finds nothing can say where it looked."""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path

import httpx

from commandcenter.leftovers import STATE_FILE, read_state

DEFAULT_DATA_DIR = ".cc"
DEFAULT_PORT = 8001
DEFAULT_GATEWAY = f"http://127.0.0.1:{DEFAULT_PORT}"


@dataclass(frozen=True)
class StackLookup:
    """What the data directory says: `url` is its running stack's gateway, or None and
    `why_not` says what was found instead."""

    data_dir: Path
    url: str | None
    why_not: str = ""


def answers(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def look_for_stack(data_dir: Path) -> StackLookup:
    """The stack running on `data_dir`, if its gateway answers."""
    where = data_dir.absolute()
    state_file = where / STATE_FILE
    if not state_file.is_file():
        return StackLookup(where, None, f"{state_file}: none")
    url = str(read_state(where).get("gateway_url") or "").rstrip("/")
    if not url:
        return StackLookup(where, None, f"{state_file}: names no gateway")
    if not answers(url):
        return StackLookup(where, None, f"{state_file}: names {url}, which does not answer")
    return StackLookup(where, url)


def is_default(data_dir: Path, port: int) -> bool:
    """Whether a stack on `data_dir` and `port` is the one the command finds from the
    directory it was started in with no options."""
    return port == DEFAULT_PORT and data_dir.resolve() == Path(DEFAULT_DATA_DIR).resolve()


def export_line(gateway_url: str, data_dir: Path) -> str:
    """The shell line that points the command, run anywhere, at this stack and its admin
    token (`CC_DATA_DIR`: the token goes only to the gateway its stack.json names)."""
    where = shlex.quote(str(data_dir.resolve()))
    return f"export CC_GATEWAY_URL={gateway_url} CC_DATA_DIR={where}"
