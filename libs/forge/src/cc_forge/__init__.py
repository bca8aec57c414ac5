"""Forge adapters: land a run's integration branch as a pull request (GitHub so far).

forge = open_forge(ForgeSettings.from_env(), remote_url=remote)
pr = await forge.open_or_update(head="cc/run-42", base="main", title=title, body=body)
pr = await forge.mark_ready(pr)      # once the run succeeded
await forge.aclose()
"""

from cc_forge.errors import ForgeError
from cc_forge.factory import open_forge
from cc_forge.github import GitHubForge
from cc_forge.ports import Forge, PullRequest
from cc_forge.remotes import github_repo_from_url
from cc_forge.settings import ForgeSettings

__all__ = [
    "Forge",
    "ForgeError",
    "ForgeSettings",
    "GitHubForge",
    "PullRequest",
    "github_repo_from_url",
    "open_forge",
]
