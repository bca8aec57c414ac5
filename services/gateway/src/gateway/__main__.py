"""`python -m gateway`: serve the API with uvicorn until SIGTERM/SIGINT (never with reload)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from collections.abc import Iterator

import uvicorn
from cc_bus.logs import configure_logging
from cc_observe.tracing import setup_tracing
from commandcenter_contracts import SettingsError

from gateway.app import create_app
from gateway.settings import Settings


class _Server(uvicorn.Server):
    """uvicorn re-raises SIGTERM/SIGINT after its graceful shutdown, so the process would die
    by the signal; a service that stopped cleanly should exit 0 instead."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        loop = asyncio.get_running_loop()
        signals = (signal.SIGTERM, signal.SIGINT)
        for sig in signals:
            loop.add_signal_handler(sig, self.handle_exit, sig, None)
        try:
            yield
        finally:
            for sig in signals:
                loop.remove_signal_handler(sig)


def main() -> int:
    configure_logging("gateway")
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        print(f"gateway: {exc}", file=sys.stderr)
        return 2
    tracing = setup_tracing("gateway")
    server = _Server(
        uvicorn.Config(
            create_app(settings, traced=tracing.enabled),
            host=settings.host,
            port=settings.port,
            log_config=None,  # keep cc_bus's structured logging
            lifespan="on",
            timeout_graceful_shutdown=5,
            reload=False,
        )
    )
    # SIGTERM/SIGINT: stop accepting, finish or cut open streams (5 s), close the lifespan.
    try:
        server.run()
    finally:
        tracing.shutdown()  # the spans still queued go out before the process ends
    return 0 if server.started else 1


if __name__ == "__main__":
    sys.exit(main())
