"""Benchmark 5: requests/s of `GET /api/v1/runs/{id}` against a bare litestar endpoint.

Ours: the gateway of a running stack, asked for a finished run of N tasks. The first request
reads the view from the read model (one statement); after that it comes from the gateway's
cache of ended runs' views, without a statement while the gateway hears PostgreSQL's change
notifications, as a user's repeated reads of a finished run do. Baseline: `bench.bare_app`,
a litestar endpoint on the same kind of server (uvicorn, one process, same settings) returning
the very same bytes without a query. One client for both: a minimal asyncio HTTP/1.1 client
with a fixed number of kept-alive connections, each sending one request at a time; a warm-up,
then a fixed number of requests.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import time
from dataclasses import dataclass

from commandcenter.servers import free_port, wait_for_port

from bench.context import Context
from bench.report import Row
from bench.stats import Sample
from bench.system import (
    BenchError,
    api_client,
    running_stack,
    start_run,
    stop_process,
    wait_for_run,
)
from bench.workload import make_repository, write_file_agent, write_plan

BENCH = "5 gateway"


@dataclass(frozen=True)
class Config:
    run_tasks: int
    requests: int
    concurrency: int
    repeat: int


class HttpConnection:
    """A minimal HTTP/1.1 keep-alive client for `GET`s of bodies with a Content-Length.

    It costs the client far less CPU than a general-purpose client (httpx tops out near the
    bare server's rate on two cores), so the figures measure the servers, not the client."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, host: str, port: int) -> HttpConnection:
        return cls(*await asyncio.open_connection(host, port))

    async def get(self, request: bytes) -> int:
        """Send a prepared request; the response's status (its body is read and dropped)."""
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        length = 0
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length":
                length = int(value)
            elif name.strip().lower() == "transfer-encoding":
                raise BenchError("chunked responses are not supported by this client")
        await self.reader.readexactly(length)
        return status

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(OSError):
            await self.writer.wait_closed()


async def requests_per_second(port: int, path: str, config: Config, token: str) -> float:
    # Both servers get the token; only ours checks it (from its token cache after the first).
    request = (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {token}\r\n\r\n"
    ).encode()
    connections = [await HttpConnection.open("127.0.0.1", port) for _ in range(config.concurrency)]
    remaining = 0

    async def worker(conn: HttpConnection) -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            status = await conn.get(request)
            if status != 200:
                raise BenchError(f"GET 127.0.0.1:{port}{path}: {status}")

    async def burst(count: int) -> float:
        nonlocal remaining
        remaining = count
        started = time.perf_counter()
        await asyncio.gather(*(worker(conn) for conn in connections))
        return time.perf_counter() - started

    try:
        await burst(min(200, config.requests))  # warm-up
        return config.requests / await burst(config.requests)
    finally:
        for conn in connections:
            await conn.close()


def run(config: Config, ctx: Context) -> list[Row]:
    root, problems, say = ctx.root, ctx.problems, ctx.say
    ours, bare = Sample(), Sample()
    workdir = root / "gateway"
    repo = make_repository(workdir / "repo")
    plan = write_plan(workdir / "plans", config.run_tasks)
    with running_stack(workdir / "stack", problems=problems) as stack:
        with api_client(stack) as client:
            run_id = start_run(client, plan=plan, repo=repo, argv=write_file_agent())
            wait_for_run(client, run_id, timeout=60 + 10 * config.run_tasks)
            body = client.get(f"/api/v1/runs/{run_id}").content
        (workdir / "body.json").write_bytes(body)
        port = free_port()
        env = {
            **os.environ,
            "CC_BENCH_BARE_PORT": str(port),
            "CC_BENCH_BARE_BODY": str(workdir / "body.json"),
            "CC_LOG_FORMAT": "json",
        }
        with (workdir / "bare_app.log").open("ab") as log:
            bare_app = subprocess.Popen(
                [sys.executable, "-m", "bench.bare_app"],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        try:
            wait_for_port(port)
            path = f"/api/v1/runs/{run_id}"
            for k in range(config.repeat):
                # Alternate who goes first, so neither always runs on a warmer machine.
                order = [("ours", stack.gateway_port), ("bare", port)]
                for who, server_port in order if k % 2 == 0 else order[::-1]:
                    ctx.settle()
                    rate = asyncio.run(
                        requests_per_second(server_port, path, config, stack.admin_token())
                    )
                    (ours if who == "ours" else bare).add(rate)
                say(
                    f"  repetition {k + 1}: gateway {ours.values[-1]:,.0f} req/s, "
                    f"bare litestar {bare.values[-1]:,.0f} req/s"
                )
        finally:
            stop_process(bare_app, grace_s=10)
    return [
        Row(
            BENCH,
            f"GET /api/v1/runs/{{id}}, a finished run of {config.run_tasks} tasks "
            f"({len(body) / 1024:.1f} KiB)",
            "requests/s",
            ours=ours,
            baseline=bare,
            baseline_label="bare litestar endpoint, same body",
            decimals=0,
            note=f"{config.concurrency} keep-alive connections, {config.requests:,} requests "
            "per repetition",
            chart_label="GET a run",
            goal="P4",
        )
    ]
