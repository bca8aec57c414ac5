"""`python -m executor_dagger`: run the dagger executor until SIGTERM or SIGINT (then drain)."""

from __future__ import annotations

import asyncio
import logging
import sys

from cc_bus import ReplicasError
from cc_bus.logs import configure_logging
from cc_observe.metrics import MetricsServerError, serving_metrics
from cc_observe.tracing import setup_tracing
from nats.errors import ConnectionReconnectingError

from executor_dagger.app import create_app
from executor_dagger.backend import BackendUnavailable
from executor_dagger.settings import Settings


def main() -> None:
    configure_logging("executor-dagger")
    log = logging.getLogger("executor_dagger")
    try:
        settings = Settings.from_env()
    except ValueError as exc:
        log.error("bad setting: %s", exc)
        sys.exit(2)
    tracing = setup_tracing("executor-dagger")
    try:
        with serving_metrics(settings.metrics):
            asyncio.run(create_app(settings).run())
    except (MetricsServerError, ReplicasError) as exc:
        log.error("not starting: %s", exc)
        sys.exit(2)
    except BackendUnavailable as exc:
        log.error("%s; not starting (CC_DAGGER_BACKEND=auto would run engine-less)", exc)
        sys.exit(2)
    except ConnectionReconnectingError:
        # Raised by the final drain when SIGTERM arrives while NATS is away: nothing was
        # acked that should not have been; unacked tasks come back after ack_wait.
        log.warning("stopped while NATS was unreachable")
    finally:
        tracing.shutdown()  # the spans still queued go out before the process ends


if __name__ == "__main__":
    main()
