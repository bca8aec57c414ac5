"""`python -m executor_local`: run the local executor until SIGTERM or SIGINT."""

from __future__ import annotations

import asyncio
import logging
import sys

from cc_bus.logs import configure_logging
from nats.errors import ConnectionReconnectingError

from executor_local.app import create_app
from executor_local.settings import Settings


def main() -> None:
    configure_logging("executor-local")
    try:
        settings = Settings.from_env()
    except ValueError as exc:
        logging.getLogger(__name__).error("bad setting: %s", exc)
        sys.exit(2)
    logging.getLogger(__name__).info(
        "executor %s on %s, worktrees in %s",
        settings.executor_id,
        settings.nats_url,
        settings.worktree_root,
    )
    try:
        asyncio.run(create_app(settings).run())
    except ConnectionReconnectingError:
        # Raised by the broker's final drain when SIGTERM arrives while NATS is away: the
        # subscribers have stopped and nothing was acked that should not have been.
        logging.getLogger(__name__).warning("stopped while NATS was unreachable")


if __name__ == "__main__":
    main()
