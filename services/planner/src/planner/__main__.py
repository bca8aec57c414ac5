"""`python -m planner`: run the planner until SIGTERM or SIGINT."""

from __future__ import annotations

import asyncio
import logging
import sys

from cc_bus import ReplicasError
from cc_bus.logs import configure_logging
from cc_observe.metrics import MetricsServerError, serving_metrics
from cc_observe.tracing import setup_tracing

from planner.app import create_app
from planner.settings import Settings


def main() -> None:
    configure_logging("planner")
    settings = Settings.from_env()
    app = create_app(settings)
    tracing = setup_tracing("planner")
    try:
        with serving_metrics(settings.metrics):
            asyncio.run(app.run())
    except (MetricsServerError, ReplicasError) as exc:
        logging.getLogger(__name__).error("not starting: %s", exc)
        sys.exit(2)
    finally:
        tracing.shutdown()  # the spans still queued go out before the process ends


if __name__ == "__main__":
    main()
