"""`python -m executor_local`: run the local executor until SIGTERM or SIGINT."""

from __future__ import annotations

import asyncio
import logging
import sys

from cc_bus import ReplicasError, redact_url
from cc_bus.logs import configure_logging
from cc_observe.metrics import MetricsServerError, serving_metrics
from cc_observe.tracing import setup_tracing

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
        redact_url(settings.nats_url),
        settings.worktree_root,
    )
    tracing = setup_tracing("executor-local")
    try:
        with serving_metrics(settings.metrics):
            asyncio.run(create_app(settings).run())
    except (MetricsServerError, ReplicasError) as exc:
        logging.getLogger(__name__).error("not starting: %s", exc)
        sys.exit(2)
    finally:
        tracing.shutdown()  # the spans still queued go out before the process ends


if __name__ == "__main__":
    main()
