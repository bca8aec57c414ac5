"""Who CommandCenter's commits are by, and the environment every git command runs with."""

from __future__ import annotations

from dataclasses import dataclass

ALLOWED_PROTOCOLS = "file:git:http:https:ssh"
"""`GIT_ALLOW_PROTOCOL`: a repository URL from a message must not be `ext::<command>`."""


@dataclass(frozen=True)
class GitIdentity:
    name: str
    email: str

    def env(self) -> dict[str, str]:
        """Environment for every git command (and for agents that commit themselves)."""
        return {
            "GIT_AUTHOR_NAME": self.name,
            "GIT_AUTHOR_EMAIL": self.email,
            "GIT_COMMITTER_NAME": self.name,
            "GIT_COMMITTER_EMAIL": self.email,
            "GIT_TERMINAL_PROMPT": "0",  # a missing credential fails instead of hanging
            "GIT_ALLOW_PROTOCOL": ALLOWED_PROTOCOLS,
        }
