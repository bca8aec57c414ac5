"""The live gateway fuzzed against its own OpenAPI document by schemathesis: every check, every
phase (examples, coverage, fuzzing and the stateful chains it infers from `Location`
headers), a fixed example budget and seed, so a run is reproducible and stays under a
minute here.

It must find nothing: every response the gateway gives is documented, the schema refuses
what the server refuses (unknown fields, bounds), and nothing answers 5xx. The gateway runs
on a real uvicorn against real NATS and PostgreSQL (the fixtures of conftest.py); requests
carry whatever headers the fixture's `live_client` sends (its API token, once there is one).
"""

from __future__ import annotations

import asyncio
import sys
import sysconfig
from pathlib import Path

import httpx
import pytest

pytestmark = [pytest.mark.integration, pytest.mark.fuzz, pytest.mark.timeout(300)]

MAX_EXAMPLES = 15
"""Per operation and phase: enough for every phase to reach each route's refusals, few
enough for the whole run to take well under a minute and a half here."""
ENDLESS = "/api/v1/events"
"""Every run's events: a stream that never ends and takes one optional sequence number, so
each case schemathesis makes of it is read for the whole request timeout (15 examples per
phase were ~70 s of the run's ~95). It is fuzzed apart, with fewer examples, each read for
`ENDLESS_READ_S`: its `ready` event, or its refusal, comes at once."""
ENDLESS_EXAMPLES = 3
ENDLESS_READ_S = 1
SENT_HEADERS = ("authorization",)
"""Of the fixture client's headers, the ones schemathesis must send too."""


def schemathesis_bin() -> str:
    found = Path(sysconfig.get_path("scripts")) / "schemathesis"
    assert found.is_file(), f"schemathesis is not installed in {sys.prefix} (uv sync)"
    return str(found)


async def test_schemathesis_finds_nothing(
    live_url: str, live_client: httpx.AsyncClient, tmp_path: Path
) -> None:
    # httpx keeps header names in lower case; schemathesis strips `Authorization` by that
    # name when it checks that a route refuses a request without it.
    headers = [
        arg
        for name, value in live_client.headers.items()
        if name.lower() in SENT_HEADERS
        for arg in ("--header", f"{name.title()}: {value}")
    ]
    # The other streams (a run's events, a task's log) are read up to the same 4 s when
    # their run exists; most cases name none and are refused at once.
    every_route_but_one = ["--exclude-path", ENDLESS, "--max-examples", str(MAX_EXAMPLES)]
    await schemathesis(live_url, tmp_path / "routes", [*every_route_but_one, *headers], read_s=4)
    the_endless_stream = ["--include-path", ENDLESS, "--max-examples", str(ENDLESS_EXAMPLES)]
    await schemathesis(
        live_url, tmp_path / "endless", [*the_endless_stream, *headers], read_s=ENDLESS_READ_S
    )


async def schemathesis(live_url: str, folder: Path, options: list[str], *, read_s: float) -> None:
    """One schemathesis run against the live server; it must find nothing. Its JUnit report
    goes to `folder/report` (schemathesis makes the folders)."""
    argv = [
        schemathesis_bin(),
        "run",
        f"{live_url}/schema/openapi.json",
        "--checks",
        "all",
        "--phases",
        "examples,coverage,fuzzing,stateful",
        "--generation-deterministic",  # the same cases every run (it needs no seed)
        "--workers",
        "1",
        # An event stream that does not end is read this long. Every other answer comes far
        # sooner (a view waiting for an event waits 2.5 s at most here).
        "--request-timeout",
        str(read_s),
        "--no-color",
        "--report",
        "junit",
        "--report-dir",
        str(folder / "report"),
        *options,
    ]
    # The server runs on this event loop: wait for schemathesis without blocking it.
    proc = await asyncio.create_subprocess_exec(
        *argv,
        cwd=folder.parent,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await proc.communicate()
    report = output.decode(errors="replace")
    assert proc.returncode == 0, report
