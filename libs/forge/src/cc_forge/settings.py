"""Which forge to land runs on, read once from `CC_…` environment variables."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

GITHUB_API_URL = "https://api.github.com"


@dataclass(frozen=True, kw_only=True)
class ForgeSettings:
    kind: str = "github"
    """`CC_FORGE`: the forge's kind; `github` is the only one so far (GitLab, Forgejo: later)."""
    repo: str | None = None
    """`CC_FORGE_REPO`: `owner/name`; unset: derived from the remote URL by the caller."""
    token: str | None = field(default=None, repr=False)
    """`CC_GITHUB_TOKEN`, else `GITHUB_TOKEN`: sent as a bearer token, never shown."""
    api_url: str = GITHUB_API_URL
    """`CC_GITHUB_API_URL`: REST root; GitHub Enterprise Server: `https://HOST/api/v3`."""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ForgeSettings:
        env = os.environ if environ is None else environ

        def value(name: str) -> str | None:
            return env.get(name, "").strip() or None

        return cls(
            kind=(value("CC_FORGE") or cls.kind).lower(),
            repo=value("CC_FORGE_REPO"),
            token=value("CC_GITHUB_TOKEN") or value("GITHUB_TOKEN"),
            api_url=(value("CC_GITHUB_API_URL") or GITHUB_API_URL).rstrip("/"),
        )
