"""Programs the project installs for itself (`make claude`): where they are on this machine."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[3]
"""The checkout this package runs from (the uv workspace installs it in place)."""
CLAUDE_DIR = PROJECT_ROOT / "tools" / "claude"


def installed_claude(root: Path = CLAUDE_DIR) -> Path | None:
    """The pinned Claude Code CLI `make claude` installed: the native binary of this platform's
    package (the npm `bin` shim is a stub without the postinstall step, which is skipped)."""
    for binary in sorted((root / "node_modules" / "@anthropic-ai").glob("claude-code-*/claude")):
        if binary.is_file() and os.access(binary, os.X_OK):
            return binary
    return None


def claude_env(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """`CC_CLAUDE_BIN` pointing at the installed CLI, unless one is configured already."""
    environ = os.environ if environ is None else environ
    if environ.get("CC_CLAUDE_BIN"):
        return {}
    found = installed_claude()
    return {"CC_CLAUDE_BIN": str(found)} if found is not None else {}
