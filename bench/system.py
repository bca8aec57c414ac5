"""Driving the real system: a one-machine stack (the one `commandcenter up` starts) and runs
started and followed through the gateway's HTTP API, the way a user's client does."""

from __future__ import annotations

import contextlib
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import nats
from cc_bus import publish_status
from commandcenter.servers import free_port
from commandcenter.stack import Stack
from commandcenter_contracts import (
    RUN_ENDED,
    BatchSelection,
    RunAccepted,
    RunStatus,
    TaskStatus,
)
from nats.aio.client import Client


class BenchError(RuntimeError):
    """The system did not do what the benchmark needs (a run failed, a service died)."""


def api_client(stack: Stack) -> httpx.Client:
    """A client of the stack's API, sending the admin token its gateway made at start."""
    headers = {"Authorization": f"Bearer {stack.admin_token()}"}
    return httpx.Client(base_url=stack.gateway_url, timeout=30, headers=headers)


def bench_roots(data_dir: Path) -> dict[str, str]:
    """`CC_ALLOWED_ROOTS`: the bench's work folder (`cc-bench-…`), where its plans and
    repositories are; else the folder around the stack's."""
    for folder in data_dir.parents:
        if folder.name.startswith("cc-bench-"):
            return {"CC_ALLOWED_ROOTS": str(folder)}
    return {"CC_ALLOWED_ROOTS": str(data_dir.parent.parent)}


@contextlib.contextmanager
def running_stack(
    data_dir: Path,
    *,
    local_executors: int = 1,
    dagger_executors: int = 0,
    nats_cluster: int = 1,
    extra_env: dict[str, str] | None = None,
    problems: list[str] | None = None,
) -> Iterator[Stack]:
    """A fresh stack in `data_dir`; stopped on exit. Tracebacks found in the services' logs
    are appended to `problems` (they are findings, not noise). `nats_cluster` > 1: a
    loopback cluster of that many nats-server nodes instead of one (`up --nats-cluster`)."""
    stack = Stack(
        data_dir,
        gateway_port=free_port(),
        nats_port=free_port(),
        local_executors=local_executors,
        dagger_executors=dagger_executors,
        nats_cluster=nats_cluster,
        extra_env={**bench_roots(data_dir), **(extra_env or {})},
        say=lambda _message: None,
    )
    try:
        stack.start(ready_timeout=90)
    except Exception as exc:
        stack.stop()
        raise BenchError(f"the stack did not start: {exc}\n{log_tails(data_dir)}") from exc
    try:
        yield stack
    finally:
        stack.stop()
        if problems is not None:
            problems.extend(tracebacks(data_dir))


async def connect_nats(url: str, name: str) -> Client:
    """A nats-py connection to `url`, which may list a cluster's nodes comma-separated
    (`nats.connect` takes such a list only as a Python list)."""
    return await nats.connect(servers=url.split(","), name=name)


async def announce(nats_url: str, run_id: str) -> None:
    """A run the way the gateway announces it (`run.accepted`), for benchmarks that publish
    its status events themselves; the projector makes it a run row."""
    nc = await connect_nats(nats_url, "bench-announce")
    try:
        await publish_status(
            nc.jetstream(),
            RunAccepted(
                run_id=run_id,
                mode="local",
                plan_path="/bench/latency.md",
                selection=BatchSelection(),
                repo="/bench/repo",
                agent="command",
            ),
        )
    finally:
        await nc.close()


def stop_process(proc: subprocess.Popen[bytes], *, grace_s: float) -> None:
    """SIGTERM, then SIGKILL if it has not exited within `grace_s`."""
    proc.terminate()
    try:
        proc.wait(grace_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def log_tails(data_dir: Path, chars: int = 2000) -> str:
    parts = []
    for log in sorted((data_dir / "logs").glob("*.log")):
        parts.append(f"--- {log.name}\n{log.read_text(errors='replace')[-chars:]}")
    return "\n".join(parts)


def tracebacks(data_dir: Path) -> list[str]:
    found = []
    for log in sorted((data_dir / "logs").glob("*.log")):
        text = log.read_text(errors="replace")
        if "Traceback" in text:
            where = text.index("Traceback")
            found.append(f"{log.name} ({data_dir.name}): {text[where : where + 1500]}")
    return found


def start_run(
    client: httpx.Client,
    *,
    plan: Path,
    repo: Path | str,
    argv: list[str],
    mode: str = "local",
    batches: int = 1,
) -> str:
    """Start batches 1 to `batches` of `plan`; the run's id."""
    response = client.post(
        "/api/v1/runs",
        json={
            "plan_path": str(plan),
            "start_batch": "1",
            "end_batch": str(batches),
            "execution_mode": mode,
            "repo": str(repo),
            "agent": "command",
            "agent_argv": argv,
        },
    )
    if response.status_code != 202:
        raise BenchError(f"POST /api/v1/runs: {response.status_code} {response.text}")
    return str(response.json()["id"])


def wait_for_run(
    client: httpx.Client,
    run_id: str,
    *,
    timeout: float,
    poll_s: float = 0.1,
    stalled_s: float = 60.0,
    by_summary: bool = False,
) -> dict[str, Any]:
    """Poll the read model (PostgreSQL, through the API) until the run is terminal there;
    a run that did not succeed, or shows no progress for `stalled_s`, is an error; the
    run's view. `by_summary`: poll the run list's summary of it (a fixed size) instead of its
    whole view, which grows with the run, so that a long run's polling costs the same at
    every N; the view is read once at the end."""
    deadline = time.monotonic() + timeout
    view: dict[str, Any] = {}
    progress: object = None
    progressed_at = time.monotonic()
    while time.monotonic() < deadline:
        view = _run_summary(client, run_id) if by_summary else _run_view(client, run_id)
        if view:
            if view.get("status") in RUN_ENDED:
                if by_summary:
                    view = _run_view(client, run_id)
                if view["status"] != RunStatus.SUCCEEDED:
                    raise BenchError(f"run {run_id} ended {view['status']}: {_failures(view)}")
                return view
            if (view.get("status"), view.get("counts")) != progress:
                progress, progressed_at = (view.get("status"), view.get("counts")), time.monotonic()
        if time.monotonic() - progressed_at > stalled_s:
            raise BenchError(
                f"run {run_id} made no progress for {stalled_s:.0f}s: "
                f"{view.get('status')}, counts {view.get('counts')}"
            )
        time.sleep(poll_s)
    raise BenchError(f"run {run_id} not finished after {timeout:.0f}s: counts {view.get('counts')}")


def _run_view(client: httpx.Client, run_id: str) -> dict[str, Any]:
    response = client.get(f"/api/v1/runs/{run_id}")
    return dict(response.json()) if response.status_code == 200 else {}


def _run_summary(client: httpx.Client, run_id: str) -> dict[str, Any]:
    """The run's entry in the run list (newest first: a benchmark's stack has few runs)."""
    response = client.get("/api/v1/runs", params={"limit": 5})
    if response.status_code != 200:
        return {}
    return next((dict(r) for r in response.json()["items"] if r["id"] == run_id), {})


def _failures(view: dict[str, Any]) -> str:
    failed = [
        f"{t['plan_task_id']}: {t['error_code']} {t['error']}"
        for b in view.get("batches", [])
        for t in b.get("tasks", [])
        if t.get("status") != TaskStatus.SUCCEEDED
    ]
    return "; ".join(failed[:5]) or str(view.get("error"))
