"""Which API token the CLI sends: `$CC_TOKEN`, else the admin token that `commandcenter up`
wrote to `<data-dir>/admin.token` — but only to the gateway that the same data directory's
running stack serves (`stack.json`), so a local admin token never goes to another server."""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

from commandcenter.leftovers import STATE_FILE

ADMIN_TOKEN_FILE = "admin.token"


def admin_token_path(data_dir: Path) -> Path:
    return data_dir / ADMIN_TOKEN_FILE


def read_token(path: Path) -> str | None:
    with contextlib.suppress(OSError, UnicodeDecodeError):
        token = path.read_text().strip()
        return token or None
    return None


def _stack_serves(data_dir: Path, url: str) -> bool:
    with contextlib.suppress(OSError, ValueError):
        state = json.loads((data_dir / STATE_FILE).read_text())
        return isinstance(state, dict) and str(state.get("gateway_url", "")).rstrip("/") == url
    return False


def token_for(url: str, data_dir: Path) -> str | None:
    """The token to send to the gateway at `url` (None: none is known)."""
    explicit = os.environ.get("CC_TOKEN", "").strip()
    if explicit:
        return explicit
    if _stack_serves(data_dir, url.rstrip("/")):
        return read_token(admin_token_path(data_dir))
    return None
