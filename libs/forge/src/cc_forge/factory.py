"""The one place that turns settings into a forge adapter (new kinds are added here)."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from cc_forge.errors import ForgeError
from cc_forge.github import GitHubForge
from cc_forge.ports import Forge
from cc_forge.remotes import github_repo_from_url
from cc_forge.settings import ForgeSettings

KINDS = ("github",)


def open_forge(settings: ForgeSettings, *, remote_url: str | None) -> Forge:
    """The forge named by `settings`, for `settings.repo` or else the repository of `remote_url`."""
    if settings.kind not in KINDS:
        raise ForgeError(f"unknown forge {settings.kind!r} (CC_FORGE); known: {', '.join(KINDS)}")
    if not settings.token:
        raise ForgeError("no GitHub token: set CC_GITHUB_TOKEN (or GITHUB_TOKEN)")
    repo = settings.repo or (github_repo_from_url(remote_url) if remote_url else None)
    if repo is None:
        where = f"the remote {_without_credentials(remote_url)!r}" if remote_url else "no remote"
        raise ForgeError(
            f"cannot tell which GitHub repository to open the pull request in: {where} is not "
            "a github.com URL; set CC_FORGE_REPO=owner/name"
        )
    return GitHubForge(repo=repo, token=settings.token, api_url=settings.api_url)


def _without_credentials(url: str) -> str:
    """The URL minus any `user:token@` part, so an error message cannot leak a token."""
    parts = urlsplit(url)
    if not parts.scheme or "@" not in parts.netloc:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=host))
