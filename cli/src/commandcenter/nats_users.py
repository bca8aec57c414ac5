"""The NATS users of a stack on one machine: one per service (`cc_bus.permissions`) and the
operator's, each with a random password in `<data-dir>/secrets/nats/<user>.password` (0600,
in a 0700 folder), made once and kept, so a second `up` on the directory uses the same ones.

Each service gets only its own user and password file (`CC_NATS_USER`,
`CC_NATS_PASSWORD_FILE`), never the password itself in its environment.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

from cc_bus.permissions import (
    EXECUTOR_DAGGER,
    EXECUTOR_LOCAL,
    GATEWAY,
    OPERATOR,
    PLANNER,
    SERVICE_USERS,
)

from commandcenter.servers import write_private

USER_OF_MODULE = {
    "gateway": GATEWAY,
    "planner": PLANNER,
    "executor_local": EXECUTOR_LOCAL,
    "executor_dagger": EXECUTOR_DAGGER,
}
"""The NATS user each service module (`python -m <module>`) connects as."""


@dataclass(frozen=True)
class NatsUsers:
    folder: Path

    @classmethod
    def ensure(cls, data_dir: Path) -> NatsUsers:
        """The stack's users, with a new random password for each one that has none yet."""
        users = cls(data_dir / "secrets" / "nats")
        users.folder.mkdir(parents=True, exist_ok=True)
        for folder in (users.folder.parent, users.folder):
            folder.chmod(0o700)
        for user in (*SERVICE_USERS, OPERATOR):
            path = users.password_file(user)
            if not path.is_file() or not path.read_text(encoding="utf-8").strip():
                write_private(path, secrets.token_urlsafe(32) + "\n")
        return users

    def route_password(self) -> str:
        """The password nodes of a loopback cluster (`up --nats-cluster`) route with."""
        path = self.folder / "cluster-routes.password"
        if not path.is_file() or not path.read_text(encoding="utf-8").strip():
            write_private(path, secrets.token_urlsafe(32) + "\n")
        return path.read_text(encoding="utf-8").strip()

    def password_file(self, user: str) -> Path:
        return self.folder / f"{user}.password"

    def passwords(self) -> dict[str, str]:
        """Every user's password, for the server's configuration."""
        return {
            user: self.password_file(user).read_text(encoding="utf-8").strip()
            for user in (*SERVICE_USERS, OPERATOR)
        }

    def env_for(self, module: str) -> dict[str, str]:
        """The variables that make service `module` connect as its own user."""
        user = USER_OF_MODULE[module]
        return {"CC_NATS_USER": user, "CC_NATS_PASSWORD_FILE": str(self.password_file(user))}
