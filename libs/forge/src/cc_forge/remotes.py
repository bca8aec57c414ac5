"""Which GitHub repository a git remote URL points at."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

_SCP_LIKE = re.compile(r"^[\w.-]+@(?P<host>[\w.-]+):(?P<path>[^/].*)$")
"""`git@github.com:owner/name.git`: git's scp-like syntax (no scheme, a colon before the path)."""
_NAME = re.compile(r"^[\w.-]+$")


def github_repo_from_url(url: str) -> str | None:
    """`owner/name` for a github.com remote (https, ssh or scp-like), else None."""
    url = url.strip()
    scp = _SCP_LIKE.match(url)
    if scp:
        host, path = scp["host"], scp["path"]
    else:
        parts = urlsplit(url)
        if parts.scheme not in ("https", "http", "ssh", "git", "git+ssh"):
            return None
        host, path = parts.hostname or "", parts.path
    if host.lower() != "github.com":
        return None
    segments = path.strip("/").split("/")
    if len(segments) != 2:
        return None
    owner, name = segments[0], segments[1].removesuffix(".git")
    if not (_NAME.match(owner) and _NAME.match(name)) or name in (".", ".."):
        return None
    return f"{owner}/{name}"
