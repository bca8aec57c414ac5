"""`python -m executor_local`: run the local executor until SIGTERM or SIGINT."""

from __future__ import annotations

import asyncio
import logging
import sys

from cc_bus.logs import configure_logging

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
    asyncio.run(create_app(settings).run())


if __name__ == "__main__":
    main()
