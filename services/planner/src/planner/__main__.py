"""`python -m planner`: run the planner until SIGTERM or SIGINT."""

from __future__ import annotations

import asyncio

from cc_bus.logs import configure_logging

from planner.app import create_app
from planner.settings import Settings


def main() -> None:
    configure_logging("planner")
    app = create_app(Settings.from_env())
    asyncio.run(app.run())


if __name__ == "__main__":
    main()
