"""The gateway benchmark's baseline: a bare litestar endpoint served by uvicorn exactly as the
gateway is served (`python -m gateway`), returning a fixed body (the gateway's own response,
byte for byte) without touching NATS or PostgreSQL.

`python -m bench.bare_app` reads `CC_BENCH_BARE_PORT` and `CC_BENCH_BARE_BODY` (a file).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

import uvicorn
from cc_bus.logs import configure_logging
from litestar import Litestar, MediaType, Response, get


@dataclass(frozen=True)
class Settings:
    port: int
    """`CC_BENCH_BARE_PORT`: where to listen on 127.0.0.1."""
    body: bytes
    """Contents of the file `CC_BENCH_BARE_BODY`: what every request gets."""

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            port=int(os.environ["CC_BENCH_BARE_PORT"]),
            body=Path(os.environ["CC_BENCH_BARE_BODY"]).read_bytes(),
        )


def create_app(settings: Settings) -> Litestar:
    @get("/api/v1/runs/{run_id:str}", sync_to_thread=False)
    def get_run(run_id: str) -> Response[bytes]:  # noqa: ARG001 - the route's parameter, as ours
        return Response(settings.body, media_type=MediaType.JSON)

    return Litestar(route_handlers=[get_run], debug=False)


def main() -> int:
    configure_logging("bench-bare")
    settings = Settings.from_env()
    config = uvicorn.Config(
        create_app(settings),
        host="127.0.0.1",
        port=settings.port,
        log_config=None,
        lifespan="on",
        timeout_graceful_shutdown=5,
        reload=False,
    )
    server = uvicorn.Server(config)
    server.run()
    return 0 if server.started else 1


if __name__ == "__main__":
    sys.exit(main())
